// Errors that cross module boundaries (leveldb's Status, smaller): ok, or a
// message with its context prefix. A failed step is not an error; an error
// is when the engine itself cannot do its job (a full disk, a locked file).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace runbook {

class Status {
 public:
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message)); }
  bool ok() const { return !message_; }
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }
  // "context: message", for adding where an error happened.
  Status Prefixed(const std::string& context) const { return ok() ? *this : Error(context + ": " + *message_); }

 private:
  Status() = default;
  explicit Status(std::string m) : message_(std::move(m)) {}
  std::optional<std::string> message_;
};

template <class T>
class Result {
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

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace runbook
