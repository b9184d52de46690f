#include "base/status.h"

namespace vr {

std::string_view code_name(Code code) {
    switch (code) {
#define VR_ERROR(name, num, err, msg) \
    case Code::name:                  \
        return #name;
#include "base/errors.def"
#undef VR_ERROR
    }
    return "UnknownCode";
}

std::string_view code_message(Code code) {
    switch (code) {
#define VR_ERROR(name, num, err, msg) \
    case Code::name:                  \
        return msg;
#include "base/errors.def"
#undef VR_ERROR
    }
    return "unknown error";
}

int errno_of(Code code) {
    switch (code) {
#define VR_ERROR(name, num, err, msg) \
    case Code::name:                  \
        return err;
#include "base/errors.def"
#undef VR_ERROR
    }
    return EIO;
}

bool code_from_number(uint16_t number, Code* out) {
    switch (number) {
#define VR_ERROR(name, num, err, msg) \
    case num:                         \
        *out = Code::name;            \
        return true;
#include "base/errors.def"
#undef VR_ERROR
        default:
            return false;
    }
}

std::string Status::to_string() const {
    std::string s(code_name(code_));
    s += ": ";
    s += code_message(code_);
    if (!context_.empty()) {
        s += " (";
        s += context_;
        s += ")";
    }
    return s;
}

Status Status::with_context(std::string_view what) const {
    if (is_ok()) {
        return *this;
    }
    std::string c(what);
    if (!context_.empty()) {
        c += ": ";
        c += context_;
    }
    return Status(code_, std::move(c));
}

}  // namespace vr
