// Errors that cross module boundaries (leveldb's Status, smaller): ok, or a
// kind and a message with its context prefix. A failed step is not an
// error; an error is when the engine itself cannot do its job (a full disk,
// a locked file). Both are [[nodiscard]]: a result is looked at or
// explicitly dropped with `(void)`, never forgotten.
//
// The kinds are what callers branch on; the CLI maps them to exit codes
// (cli/commands.h, ExitCodeOf(Status)):
//   kNotFound  no such run, file or step          usage (2)
//   kInvalid   a request that cannot be served    usage (2)
//   kBusy      held by another engine or process  locked (4)
//   kIOError   the disk, the file system, the OS  failed (1)
//   kCorrupt   a file that is not what it should  failed (1)
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace runbook {

class [[nodiscard]] Status {
 public:
  enum class Code { kOk, kNotFound, kInvalid, kBusy, kIOError, kCorrupt };

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Invalid(std::string m) { return Status(Code::kInvalid, std::move(m)); }
  static Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)); }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status Corrupt(std::string m) { return Status(Code::kCorrupt, std::move(m)); }
  static Status Error(Code code, std::string m) { return Status(code, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalid() const { return code_ == Code::kInvalid; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsCorrupt() const { return code_ == Code::kCorrupt; }
  const std::string& message() const { return message_; }
  // "context: message", for adding where an error happened; the kind stays.
  Status Prefixed(const std::string& context) const { return ok() ? *this : Status(code_, context + ": " + message_); }

 private:
  Status() = default;
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), status_(Status::Ok()) {}  // NOLINT: implicit by design
  Result(Status error) : status_(std::move(error)) {}                    // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace runbook
