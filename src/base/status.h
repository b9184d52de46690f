// Status and Result<T>: errors are values. A Status is a code from errors.def plus an optional
// context string; Result<T> holds either a T or a non-ok Status. Both are [[nodiscard]]. Errno
// mapping happens only at the FUSE and shim edges (errno_of).
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace vr {

enum class Code : uint16_t {
#define VR_ERROR(name, num, err, msg) name = num,
#include "base/errors.def"
#undef VR_ERROR
};

std::string_view code_name(Code code);
std::string_view code_message(Code code);
int errno_of(Code code);
// Returns false for numbers that are not in errors.def (wire input is untrusted).
bool code_from_number(uint16_t number, Code* out);

class [[nodiscard]] Status {
  public:
    Status() = default;
    explicit Status(Code code, std::string context = {})
        : code_(code), context_(std::move(context)) {}
    static Status ok() { return Status(); }

    bool is_ok() const { return code_ == Code::Ok; }
    Code code() const { return code_; }
    const std::string& context() const { return context_; }
    std::string to_string() const;
    // Adds context in front of the existing one and keeps the code.
    Status with_context(std::string_view what) const;
    void ignore() const {}

    friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

  private:
    Code code_ = Code::Ok;
    std::string context_;
};

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
    Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
        VR_ASSERT(!std::get<Status>(v_).is_ok(), "Result built from an ok Status");
    }
    bool is_ok() const { return std::holds_alternative<T>(v_); }
    const Status& status() const {
        static const Status kOk;
        return is_ok() ? kOk : std::get<Status>(v_);
    }
    T& value() & {
        VR_ASSERT(is_ok(), "value() of an error: {}", status().to_string());
        return std::get<T>(v_);
    }
    const T& value() const& {
        VR_ASSERT(is_ok(), "value() of an error: {}", status().to_string());
        return std::get<T>(v_);
    }
    T&& value() && {
        VR_ASSERT(is_ok(), "value() of an error: {}", status().to_string());
        return std::get<T>(std::move(v_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }

  private:
    std::variant<T, Status> v_;
};

}  // namespace vr

// Propagates a non-ok Status (or the Status of a Result) to the caller.
#define VR_TRY(expr)                                     \
    do {                                                 \
        auto&& vr_try_tmp_ = (expr);                     \
        if (!vr_try_tmp_.is_ok()) {                      \
            return ::vr::detail::status_of(vr_try_tmp_); \
        }                                                \
    } while (0)

namespace vr::detail {
inline Status status_of(const Status& s) {
    return s;
}
template <typename T>
Status status_of(const Result<T>& r) {
    return r.status();
}
}  // namespace vr::detail
