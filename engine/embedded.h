// Files compiled into the binary (see cmake/embed.cmake): the JSON Schema and
// the report templates, so that the binary works from any directory.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace runbook::embedded {

struct EmbeddedFile {
  const char* name;  // file name, without folders
  const char* data;
  size_t size;
};

// The runbook format's JSON Schema (engine/runbook.schema.json).
extern const EmbeddedFile kSchema[];

// Looks `name` up in a null-terminated table.
inline std::optional<std::string_view> Find(const EmbeddedFile* table, std::string_view name) {
  for (; table->name; ++table)
    if (name == table->name) return std::string_view(table->data, table->size);
  return std::nullopt;
}

}  // namespace runbook::embedded
