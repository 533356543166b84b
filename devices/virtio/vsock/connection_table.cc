#include "devices/virtio/vsock/connection_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace vmmd::virtio::vsock {

Connection* ConnectionTable::Find(ConnectionKey key) {
  auto it = connections_.find(key);
  return it == connections_.end() ? nullptr : it->second.get();
}

absl::Status ConnectionTable::Insert(std::unique_ptr<Connection> connection) {
  const ConnectionKey key = connection->key();
  if (full()) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "vsock connection limit reached (%d connections)", max_connections_));
  }
  if (!connections_.emplace(key, std::move(connection)).second) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "vsock connection host port %d, guest port %d exists", key.local_port, key.peer_port));
  }
  return absl::OkStatus();
}

std::unique_ptr<Connection> ConnectionTable::Remove(ConnectionKey key) {
  auto it = connections_.find(key);
  if (it == connections_.end()) return nullptr;
  std::unique_ptr<Connection> connection = std::move(it->second);
  connections_.erase(it);
  if (in_line_.erase(key) != 0) line_.erase(std::find(line_.begin(), line_.end(), key));
  return connection;
}

std::vector<std::unique_ptr<Connection>> ConnectionTable::RemoveAll() {
  std::vector<std::unique_ptr<Connection>> all;
  all.reserve(connections_.size());
  for (auto& [key, connection] : connections_) all.push_back(std::move(connection));
  connections_.clear();
  line_.clear();
  in_line_.clear();
  resets_.clear();
  return all;
}

std::vector<ConnectionKey> ConnectionTable::Keys() const {
  std::vector<ConnectionKey> keys;
  keys.reserve(connections_.size());
  for (const auto& [key, connection] : connections_) keys.push_back(key);
  return keys;
}

uint64_t ConnectionTable::BufferedBytes() const {
  uint64_t total = 0;
  for (const auto& [key, connection] : connections_) total += connection->buffered();
  return total;
}

uint32_t ConnectionTable::AllocateLocalPort() {
  while (true) {
    const uint32_t port = next_local_port_;
    next_local_port_ = port == kLastLocalPort ? kFirstLocalPort : port + 1;
    // Keys sort by local port first: the first key at or after (port, 0) tells whether any
    // connection uses it. At most size() ports are in use, so this ends.
    auto it = connections_.lower_bound(ConnectionKey{port, 0});
    if (it == connections_.end() || it->first.local_port != port) return port;
  }
}

void ConnectionTable::Schedule(ConnectionKey key) {
  if (connections_.count(key) == 0 || !in_line_.insert(key).second) return;
  line_.push_back(key);
}

void ConnectionTable::ScheduleFirst(ConnectionKey key) {
  if (connections_.count(key) == 0 || !in_line_.insert(key).second) return;
  line_.push_front(key);
}

std::optional<ConnectionKey> ConnectionTable::NextScheduled() {
  if (line_.empty()) return std::nullopt;
  const ConnectionKey key = line_.front();
  line_.pop_front();
  in_line_.erase(key);
  return key;
}

bool ConnectionTable::QueueReset(ConnectionKey key) {
  if (resets_full()) return false;
  resets_.push_back(key);
  return true;
}

std::optional<ConnectionKey> ConnectionTable::PeekReset() const {
  if (resets_.empty()) return std::nullopt;
  return resets_.front();
}

void ConnectionTable::PopReset() {
  if (!resets_.empty()) resets_.pop_front();
}

}  // namespace vmmd::virtio::vsock
