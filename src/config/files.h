// Checks of the files a configuration names, run when it is loaded so that a daemon never starts
// with a cluster secret that others can read or an export that is not there. Like values.h, a
// failure is an InvalidArgument Status whose context says what is wrong with the file; the caller
// adds the key and position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"

namespace vr::config {

// The shortest cluster secret accepted (the key is derived from it with SHA-256).
inline constexpr size_t kSecretBytesMin = 32;

// The secret file opens for reading, is a regular file of at least kSecretBytesMin bytes, and
// grants no permission at all to group or others (like ssh's private keys). Its contents are
// not read: net::load_cluster_key does that when the daemon starts.
Status check_secret_file(const std::string& path);

// Reads a whole regular file of at most bytes_max bytes. A missing file is NotFound, one this
// process may not read PermissionDenied, a file too large or not regular InvalidArgument, any
// other failure IoError; each message starts with the path.
Result<std::string> read_small_file(const std::string& path, size_t bytes_max);

enum class ExportAccess : uint8_t { ReadOnly, ReadWrite };

// The export is an existing directory that this process can list, and also write unless the
// export is read-only.
Status check_export_dir(const std::string& path, ExportAccess access);

}  // namespace vr::config
