// ConnectionTable: one VM's vsock connections by key, and the bounds that keep a hostile
// guest from growing the daemon: at most `max_connections` connections (a REQUEST beyond is
// answered with RST, a host program beyond is closed), at most `max_resets` RSTs waiting for
// an RX buffer (the device stops taking TX packets, which may each need one, while it is
// full), and the order in which connections with a packet due get RX buffers (round robin,
// each connection at most once in line).
//
// It also hands out host ports for host-initiated connections: from 2^30 to 2^31 - 1 in
// turn, as Firecracker does (far above the ports guest services listen on), skipping ports
// in use, which the connection bound guarantees to end.
//
// Not thread-safe: the VM's event loop owns it.
#ifndef VMMD_DEVICES_VIRTIO_VSOCK_CONNECTION_TABLE_H_
#define VMMD_DEVICES_VIRTIO_VSOCK_CONNECTION_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "devices/virtio/vsock/connection.h"
#include "devices/virtio/vsock/packet.h"

namespace vmmd::virtio::vsock {

class ConnectionTable {
 public:
  static constexpr uint32_t kFirstLocalPort = uint32_t{1} << 30;
  static constexpr uint32_t kLastLocalPort = (uint32_t{1} << 31) - 1;

  // `first_local_port` is where host port allocation starts (tests start near the end).
  ConnectionTable(size_t max_connections, size_t max_resets,
                  uint32_t first_local_port = kFirstLocalPort)
      : max_connections_(max_connections),
        max_resets_(max_resets),
        next_local_port_(first_local_port) {}

  size_t size() const { return connections_.size(); }
  bool full() const { return connections_.size() >= max_connections_; }
  size_t max_connections() const { return max_connections_; }

  // The connection of `key`, or null.
  Connection* Find(ConnectionKey key);
  // Adds `connection` under its key. RESOURCE_EXHAUSTED when the table is full,
  // ALREADY_EXISTS when the key is in use; the connection is dropped then.
  absl::Status Insert(std::unique_ptr<Connection> connection);
  // Takes the connection of `key` out (and out of the RX line); null if there is none.
  std::unique_ptr<Connection> Remove(ConnectionKey key);
  // Every connection out; the RX line and the RSTs are cleared too.
  std::vector<std::unique_ptr<Connection>> RemoveAll();
  std::vector<ConnectionKey> Keys() const;
  // Guest bytes buffered by all connections together.
  uint64_t BufferedBytes() const;

  // A host port that no connection uses as its local port.
  uint32_t AllocateLocalPort();

  // --- The RX line: connections that may have a packet due.
  // Puts `key` at the back of the line unless it is in line already or unknown.
  void Schedule(ConnectionKey key);
  // Puts `key` back at the front (it was taken out and found no RX buffer).
  void ScheduleFirst(ConnectionKey key);
  // The connection at the front, taken out of the line; nullopt when the line is empty.
  std::optional<ConnectionKey> NextScheduled();
  size_t scheduled() const { return line_.size(); }

  // --- RSTs owed for packets that belong to no connection (or to one already removed).
  // False, queueing nothing, when max_resets are waiting.
  bool QueueReset(ConnectionKey key);
  // The oldest RST owed, left in the queue; nullopt when none is.
  std::optional<ConnectionKey> PeekReset() const;
  void PopReset();
  bool resets_full() const { return resets_.size() >= max_resets_; }
  size_t resets() const { return resets_.size(); }

 private:
  const size_t max_connections_;
  const size_t max_resets_;
  std::map<ConnectionKey, std::unique_ptr<Connection>> connections_;
  std::deque<ConnectionKey> line_;
  std::set<ConnectionKey> in_line_;
  std::deque<ConnectionKey> resets_;
  uint32_t next_local_port_;
};

}  // namespace vmmd::virtio::vsock

#endif  // VMMD_DEVICES_VIRTIO_VSOCK_CONNECTION_TABLE_H_
