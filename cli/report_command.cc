// `runbook report` and `runbook postmortem` (SPEC 10), and the report every
// run writes to .runbook/reports/RUN.md when it ends.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <sstream>

#include "cli/run_command.h"
#include "import/importer.h"
#include "steps/bash_syntax.h"
#include "engine/limits.h"
#include "engine/session.h"
#include "engine/parser.h"
#include "engine/validate.h"
#include "state/open_store.h"
#include "state/private_files.h"
#include "templates/report.h"

namespace runbook::cli {
namespace {

// A file a person asked for (-o): its folder is made if missing; written
// through a private temporary file and a rename (WriteFileAtomically).
Status WriteAtomically(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path() && !fs::exists(target.parent_path(), ec))
    fs::create_directories(target.parent_path(), ec);
  return WriteFileAtomically(path, text);
}

// The record of run `id` for its report, or nullopt having said why.
std::optional<LoadedReport> Load(const Context& ctx, StateStore& store, const std::string& id, const std::string& state,
                                 const Runbook* known = nullptr) {
  auto l = LoadReport(store, id, known);
  if (!l.ok()) {
    *ctx.err << "runbook: " << l.status().message() << "\n";
    return std::nullopt;
  }
  l->input.report_path = ReportPath(state, id);
  return std::move(l.value());
}

}  // namespace

std::string ReportPath(const std::string& state, const std::string& run_id) {
  return (std::filesystem::path(LocalStateDir(StatePath(state))) / "reports" / (run_id + ".md")).string();
}

Result<std::string> WriteRunReport(StateStore& store, const std::string& state, const std::string& run_id,
                                   const Runbook* rb) {
  if (Status id = CheckRunId(run_id); !id.ok()) return id;  // it names the file: never a path
  Context quiet{{}, state, nullptr, nullptr};
  std::ostringstream sink;
  quiet.err = &sink;
  auto l = Load(quiet, store, run_id, state, rb);
  if (!l) return Status::Invalid(sink.str());
  auto text = RenderReport(ReportKind::kReport, l->input);
  if (!text.ok()) return text.status();
  std::string path = ReportPath(state, run_id);
  // In the state folder, beside the record: ours, no link, mode 0700.
  Status s = MakeOwnFolder(std::filesystem::path(path).parent_path().string(), "the reports folder");
  if (s.ok()) s = WriteFileAtomically(path, *text);
  if (!s.ok()) return s;
  return path;
}

int Report(const Context& ctx, bool postmortem, const std::string& run, const std::string& output,
           const std::string& template_file) {
  auto store = OpenExistingStore(ctx, ctx.state);
  if (!store) return kExitUsage;
  int code = kExitUsage;
  auto id = ResolveRunOrSay(ctx, *store, run, &code);
  if (!id) return code;
  auto l = Load(ctx, *store, *id, ctx.state);
  if (!l) return kExitFailed;
  std::optional<std::string> tmpl;
  if (!template_file.empty()) {
    std::ifstream in(template_file);
    if (!in) {
      *ctx.err << "runbook: cannot read template " << template_file << "\n";
      return kExitUsage;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    tmpl = ss.str();
  }
  auto text = RenderReport(postmortem ? ReportKind::kPostmortem : ReportKind::kReport, l->input, tmpl);
  if (!text.ok()) {
    *ctx.err << "runbook: " << (template_file.empty() ? "" : template_file + ": ") << text.status().message() << "\n";
    return kExitUsage;
  }
  if (output.empty()) {
    *ctx.out << *text;
    return kExitOk;
  }
  Status s = WriteAtomically(output, *text);
  if (!s.ok()) {
    *ctx.err << "runbook: " << s.message() << "\n";
    return kExitFailed;
  }
  *ctx.err << "wrote " << output << "\n";
  return kExitOk;
}

int Import(const Context& ctx, const std::string& file, const std::string& output) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *ctx.err << "runbook: cannot read " << file << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  if (auto size = std::filesystem::file_size(file, ec); !ec && size > kMaxFileBytes) {
    *ctx.err << file << ":1:1: the page is " << size << " bytes; import reads at most " << (kMaxFileBytes >> 20)
             << " MiB\n";
    return kExitUsage;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string stem = std::filesystem::path(output.empty() ? file : output).stem().string();
  std::string name = RunbookNameFrom(stem);
  BashSyntax bash;  // only a block that parses becomes a run step
  ImportResult r = ImportMarkdown(text.str(), name, std::filesystem::path(file).filename().string(), &bash);
  if (r.error) {
    *ctx.err << file << ":" << *r.error << "\n";
    return kExitUsage;
  }
  // The draft must validate; if it does not, that is our bug, said plainly.
  Diagnostics diags;
  Runbook rb = ParseRunbook(SourceFile(output.empty() ? name + ".yaml" : output, r.yaml), &diags);
  ValidateRunbook(rb, &diags);
  if (diags.HasErrors()) {
    for (const auto& d : diags.items()) *ctx.err << Format(rb.source, d);
    *ctx.err << "runbook: the imported draft does not validate (a bug in import); it was not written\n";
    return kExitFailed;
  }
  if (output.empty()) {
    *ctx.out << r.yaml;
  } else {
    Status s = WriteAtomically(output, r.yaml);
    if (!s.ok()) {
      *ctx.err << "runbook: " << s.message() << "\n";
      return kExitFailed;
    }
  }
  for (const auto& d : r.degraded) *ctx.err << file << ": made manual: " << d << "\n";
  *ctx.err << "imported " << r.steps << " step" << (r.steps == 1 ? "" : "s") << " from " << file
           << (output.empty() ? "" : " into " + output) << ": a draft that validates; review it before running it\n";
  return kExitOk;
}

}  // namespace runbook::cli
