#include "engine/loader.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/parser.h"
#include "engine/suggest.h"
#include "engine/validate.h"

namespace fs = std::filesystem;

namespace runbook {
namespace {

bool HasRunbookExtension(const std::string& s) {
  auto ends = [&](const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".yaml") || ends(".yml");
}

std::optional<std::string> FindIn(const std::string& name, const std::vector<std::string>& folders) {
  for (const auto& dir : folders)
    for (const char* ext : {".yaml", ".yml"}) {
      fs::path p = fs::path(dir) / (name + ext);
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) return p.string();
    }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> RunbookPath(const char* env_value) {
  std::vector<std::string> out;
  std::string value = env_value ? env_value : "";
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ':'))
    if (!item.empty()) out.push_back(item);
  if (out.empty()) out.push_back("./runbooks");
  return out;
}

std::optional<std::string> ResolveRunbook(const std::string& arg, const std::vector<std::string>& path,
                                          std::string* error) {
  if (arg.find('/') != std::string::npos || HasRunbookExtension(arg)) {
    std::error_code ec;
    if (fs::is_regular_file(arg, ec)) return arg;
    *error = "no such runbook file: " + arg;
    return std::nullopt;
  }
  if (auto found = FindIn(arg, path)) return found;
  std::vector<std::string> names;
  for (const auto& f : ListRunbookFiles(path)) names.push_back(fs::path(f).stem().string());
  std::string folders;
  for (const auto& d : path) folders += (folders.empty() ? "" : ":") + d;
  *error = "runbook '" + arg + "' not found in " + folders + " (RUNBOOK_PATH)" + DidYouMean(arg, names);
  return std::nullopt;
}

std::vector<std::string> ListRunbookFiles(const std::vector<std::string>& path) {
  std::vector<std::string> out;
  for (const auto& dir : path) {
    std::error_code ec;
    std::vector<std::string> here;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      std::string p = it->path().string();
      if (it->is_regular_file(ec) && HasRunbookExtension(p)) here.push_back(p);
    }
    std::sort(here.begin(), here.end());
    out.insert(out.end(), here.begin(), here.end());
  }
  return out;
}

std::string LoadedRunbook::FormatDiagnostics() const {
  std::string out;
  for (const auto& d : diags.items()) out += Format(runbook.source, d);
  return out;
}

LoadedRunbook LoadRunbook(const std::string& file, const std::vector<std::string>& path) {
  LoadedRunbook loaded;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    loaded.runbook.source = SourceFile(file, "");
    loaded.diags.Error({}, "cannot read the file: " + std::string(std::strerror(errno)));
    return loaded;
  }
  std::stringstream text;
  text << in.rdbuf();
  loaded.runbook = ParseRunbook(SourceFile(file, text.str()), &loaded.diags);
  // Whole-runbook checks run even after structural errors, so that one
  // validate shows every problem; they tolerate a partly read model.
  ValidateRunbook(loaded.runbook, &loaded.diags);
  // Child runbooks: beside the parent first is what a reader expects.
  std::vector<std::string> search = {fs::path(file).parent_path().string()};
  if (search[0].empty()) search[0] = ".";
  search.insert(search.end(), path.begin(), path.end());
  for (const auto* list : {&loaded.runbook.steps, &loaded.runbook.finally})
    for (const auto& s : *list)
      if (s.kind == StepKind::kRunbook && !s.runbook.value.empty() && !FindIn(s.runbook.value, search))
        loaded.diags.Warning(s.runbook.pos, "child runbook '" + s.runbook.value +
                                                "' is not found beside this file or on RUNBOOK_PATH");
  loaded.diags.SortByPosition();
  return loaded;
}

}  // namespace runbook
