#include "engine/commands.h"

#include <algorithm>

#include <filesystem>
#include <fstream>

#include "engine/step_io.h"

namespace runbook {

void Commands::RenderRunEnv(const EvalContext& ctx) {
  for (const auto& var : rb_.env) {
    auto r = RenderText(var.value, ctx);
    run_env_[var.name] = r.ok() ? r.text : "";
  }
}

std::string Commands::WorkdirOf(const Step& s) const {
  std::filesystem::path w(s.workdir);
  std::string dir = w.is_absolute() ? w.string() : (std::filesystem::path(o_.workdir) / w).lexically_normal().string();
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();  // "dir/." normalises to "dir/"
  return dir;
}

std::map<std::string, std::string> Commands::Env(const Step* s, int attempt, const std::string& output_file,
                                                 const EvalContext& ctx, std::string* error) const {
  std::map<std::string, std::string> env = o_.base_env;
  for (const auto& [k, v] : run_env_) env[k] = v;
  if (s) {
    for (const auto& var : s->env) {
      auto r = RenderText(var.value, ctx);
      if (!r.ok()) *error = "env " + var.name + ": " + *r.error;
      env[var.name] = r.text;
    }
    env["RUNBOOK_STEP_ID"] = s->id;
  } else {
    env["RUNBOOK_STEP_ID"] = "preflight";
  }
  env["RUNBOOK_RUN_ID"] = o_.run_id;
  env["RUNBOOK_ATTEMPT"] = std::to_string(attempt);
  env["RUNBOOK_OUTPUT"] = output_file;
  for (const auto& d : rb_.inputs) {
    auto it = o_.inputs.find(d.name);
    env[InputEnvName(d.name)] = it == o_.inputs.end() ? "" : it->second;
  }
  return env;
}

ProcessSpec Commands::ForScript(const Step* s, const RenderResult& command, int attempt,
                                const std::string& output_file, const EvalContext& ctx, std::string* env_error) const {
  ProcessSpec spec;
  spec.argv = ShellArgv(s ? s->shell : "bash", command.text);
  spec.env = Env(s, attempt, output_file, ctx, env_error);
  for (const auto& [name, value] : command.values) spec.env[name] = value;
  spec.workdir = s ? WorkdirOf(*s) : o_.workdir;
  spec.display = command.shown;
  return spec;
}

std::string Commands::OutputFile(const std::string& step, const std::string& kind, int n) const {
  return o_.tmp_dir + "/" + o_.run_id + "-" + step + "-" + kind + "-" + std::to_string(n);
}

bool Commands::CarriesSecret(const Template& t) const {
  std::vector<Ref> refs;
  for (const auto& p : t.parts)
    if (p.is_expr) CollectRefs(*p.expr, &refs);
  return std::any_of(refs.begin(), refs.end(), [&](const Ref& r) { return rb_.SecretRead(r) != nullptr; });
}

std::string Commands::FindChild(const Step& s) const {
  std::vector<std::string> search = {std::filesystem::path(rb_.source.path()).parent_path().string()};
  search.insert(search.end(), o_.runbook_path.begin(), o_.runbook_path.end());
  for (const auto& dir : search)
    for (const char* ext : {".yaml", ".yml"}) {
      auto p = std::filesystem::path(dir.empty() ? "." : dir) / (s.runbook.value + ext);
      if (std::filesystem::is_regular_file(p)) return std::filesystem::absolute(p).string();
    }
  return "";
}

Result<ProcessSpec> Commands::ForChild(const Step& s, const std::string& file, const std::string& child_run,
                                       bool resume, int attempt, const EvalContext& ctx) const {
  ProcessSpec spec;
  // The inputs go through a file in the private folder, never argv. An
  // input that carries a secret is a secret of the child run too, and on a
  // resume is given again (a secret is never stored).
  std::string inputs_file = OutputFile(s.id, "inputs", attempt);
  std::ofstream in(inputs_file);
  std::vector<std::string> secret;
  for (const auto& [name, value] : s.runbook_inputs) {
    bool carries_secret = CarriesSecret(value);
    if (resume && !carries_secret) continue;  // recorded with the child run
    auto v = RenderText(value, ctx);
    if (!v.ok()) return Status::Invalid("input " + name + ": " + *v.error);
    std::string quoted = "'";
    for (char c : v.text) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    in << name << ": " << quoted << "'\n";
    if (carries_secret) secret.push_back(name);
  }
  if (resume)
    spec.argv = {o_.self_exe, "resume", child_run, "--state", o_.state_path, "--jobs", std::to_string(o_.jobs)};
  else
    spec.argv = {o_.self_exe, "run", file, "--state", o_.state_path, "--run-id", child_run,
                 "--parent", o_.run_id + ":" + s.id, "--jobs", std::to_string(o_.jobs)};
  if (!resume || !secret.empty()) {
    spec.argv.push_back("--inputs-file");
    spec.argv.push_back(inputs_file);
  }
  for (const auto& name : secret) {
    spec.argv.push_back("--secret-input");
    spec.argv.push_back(name);
  }
  for (const auto& f : o_.child_flags) spec.argv.push_back(f);
  std::string prefix = s.id + ".";
  for (const auto& [k, v] : o_.answers)
    if (k.rfind(prefix, 0) == 0) {
      spec.argv.push_back("--answer");
      spec.argv.push_back(k.substr(prefix.size()) + "=" + v);
    }
  std::string env_error;
  spec.env = Env(&s, attempt, "", ctx, &env_error);
  spec.workdir = o_.workdir;
  spec.display = "runbook " + spec.argv[1] + " " + (resume ? child_run : file);
  return spec;
}

}  // namespace runbook
