// The byte streams the network test moves between the host and its guests (network_init.c
// in the guest, linux_network_test.cc on the host): bytes both ends derive from a seed, so
// that each end knows what it must receive, and the FNV-1a 64-bit hash (host_files.h's
// Fnv1a64, kept incrementally) both ends report. C and C++, libc only.
#ifndef VMMD_TESTS_LINUX_STREAM_DATA_H_
#define VMMD_TESTS_LINUX_STREAM_DATA_H_

#include <stddef.h>
#include <stdint.h>

// Byte i of stream `seed` is byte i % 8 (little-endian) of splitmix64's output for the
// counter seed + (i / 8) * 0x9e3779b97f4a7c15 (Steele, Lea, Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014): any part of a stream can be made alone.
static inline uint64_t stream_word(uint64_t seed, uint64_t index) {
  uint64_t z = seed + index * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Bytes [offset, offset + size) of stream `seed` into `out`.
static inline void stream_fill(uint64_t seed, uint64_t offset, unsigned char* out, size_t size) {
  size_t i = 0;
  while (i < size) {
    const uint64_t at = offset + i;
    const uint64_t word = stream_word(seed, at / 8);
    for (unsigned byte = (unsigned)(at % 8); byte < 8 && i < size; ++byte, ++i) {
      out[i] = (unsigned char)(word >> (8 * byte));
    }
  }
}

// FNV-1a, 64-bit, over whatever is fed to it, and how many bytes that was.
struct stream_hash {
  uint64_t value;
  uint64_t bytes;
};

static inline struct stream_hash stream_hash_start(void) {
  struct stream_hash hash = {0xcbf29ce484222325ull, 0};
  return hash;
}

static inline void stream_hash_add(struct stream_hash* hash, const unsigned char* data, size_t size) {
  uint64_t value = hash->value;
  for (size_t i = 0; i < size; ++i) value = (value ^ data[i]) * 0x100000001b3ull;
  hash->value = value;
  hash->bytes += size;
}

// The hash of the first `size` bytes of stream `seed`.
static inline uint64_t stream_expected_hash(uint64_t seed, uint64_t size) {
  struct stream_hash hash = stream_hash_start();
  unsigned char block[4096];
  for (uint64_t offset = 0; offset < size; offset += sizeof(block)) {
    const size_t n = size - offset < sizeof(block) ? (size_t)(size - offset) : sizeof(block);
    stream_fill(seed, offset, block, n);
    stream_hash_add(&hash, block, n);
  }
  return hash.value;
}

#endif  // VMMD_TESTS_LINUX_STREAM_DATA_H_
