// SnapshotDir: a snapshot's directory, which a client names by path, only under the daemon's
// --snapshot_root and resolved beneath it (no ".." or symlink leads out). Files are written
// under a temporary name and renamed into place once synced: a snapshot overwritten in place
// never changes a memory file that restored VMs map MAP_PRIVATE (they keep the old inode),
// and a crash never leaves a half-written file under the final name.
#ifndef VMMD_DAEMON_SNAPSHOT_DIR_H_
#define VMMD_DAEMON_SNAPSHOT_DIR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace vmmd {

class SnapshotDir {
 public:
  // The files of a snapshot.
  static constexpr char kStateFile[] = "state";
  static constexpr char kMemoryFile[] = "memory";

  // Opens `path` (absolute, canonical: under `root` as written) beneath `root`; with
  // `create`, makes it first when missing (mode 0700, its parent must exist). `field` names
  // the request's field in errors:
  //   FAILED_PRECONDITION: vmmd has no --snapshot_root (`root` empty);
  //   INVALID_ARGUMENT: empty, relative, NUL-holding or non-canonical ("/./", "//", "..")
  //   path, or not a directory;
  //   PERMISSION_DENIED: not under the root, or escaping it through a symlink;
  //   NOT_FOUND: no such directory (and not `create`).
  static absl::StatusOr<SnapshotDir> Open(absl::string_view path, const std::string& root,
                                          bool create, absl::string_view field);

  const std::string& path() const { return path_; }

  // Holds the directory against a writer (shared: RestoreVm, while it reads the state and
  // opens the memory it goes with) or against everyone (exclusive: SnapshotVm, while it
  // writes and renames both files), until this SnapshotDir goes: a restore never pairs one
  // snapshot's state with another's memory, and two snapshots never mix their files.
  // Never waits: ABORTED naming the directory when it is held the other way, so the caller
  // can retry.
  absl::Status Lock(bool exclusive) const;

  // A new, empty file that becomes `name` at Commit (until then "<name>.partial", replacing
  // any left by an earlier failure).
  absl::StatusOr<UniqueFd> CreateFile(absl::string_view name) const;
  // Syncs `file` (from CreateFile(name)) and renames it to `name`, replacing an older one.
  absl::Status Commit(absl::string_view name, const UniqueFd& file) const;
  // Removes what CreateFile(name) left when the snapshot failed.
  void Discard(absl::string_view name) const;
  // `name`, read-only (not followed if a symlink). NOT_FOUND naming the file if missing.
  absl::StatusOr<UniqueFd> OpenFile(absl::string_view name) const;

 private:
  SnapshotDir(std::string path, UniqueFd dir) : path_(std::move(path)), dir_(std::move(dir)) {}

  std::string path_;
  UniqueFd dir_;
};

}  // namespace vmmd

#endif  // VMMD_DAEMON_SNAPSHOT_DIR_H_
