// Byte accounting of a cache: memory by tier (footprint) and bytes moved between tiers (traffic).
#pragma once

#include <cstddef>

namespace kvc {

/// Bytes a cache holds, by tier. `device_bytes` and `host_bytes` count everything allocated in
/// that tier (payload, scales, mins, residual windows, indices, channel copies, page slack);
/// `metadata_bytes` is the part of those two that is not key/value payload (scales, mins,
/// indices, bounds, channel-major copies), reported so nothing is hidden. `reserved_bytes` is
/// the part of device_bytes allocated ahead that holds no token yet (the unused rest of the
/// last page or slab): held, but not read by attention. `window_bytes` is the part of
/// device_bytes held at full precision beside the compressed or offloaded store: attention sinks
/// and recent (residual) windows.
struct memory_footprint {
  std::size_t device_bytes = 0;
  std::size_t host_bytes = 0;
  std::size_t metadata_bytes = 0;
  std::size_t reserved_bytes = 0;
  std::size_t window_bytes = 0;

  std::size_t total() const { return device_bytes + host_bytes; }
  /// Device bytes that hold tokens: what attention reads of the device tier.
  std::size_t held_device_bytes() const { return device_bytes - reserved_bytes; }
  memory_footprint& operator+=(const memory_footprint& o) {
    device_bytes += o.device_bytes;
    host_bytes += o.host_bytes;
    metadata_bytes += o.metadata_bytes;
    reserved_bytes += o.reserved_bytes;
    window_bytes += o.window_bytes;
    return *this;
  }
  memory_footprint& operator-=(const memory_footprint& o) {
    device_bytes -= o.device_bytes;
    host_bytes -= o.host_bytes;
    metadata_bytes -= o.metadata_bytes;
    reserved_bytes -= o.reserved_bytes;
    window_bytes -= o.window_bytes;
    return *this;
  }
  friend memory_footprint operator+(memory_footprint a, const memory_footprint& b) { return a += b; }
  friend memory_footprint operator-(memory_footprint a, const memory_footprint& b) { return a -= b; }
  friend bool operator==(const memory_footprint&, const memory_footprint&) = default;
};

/// Cumulative bytes moved between tiers since construction or clear(): what a GPU build moves
/// over PCIe. In a CPU build both tiers are RAM, but every crossing is counted all the same.
struct transfer_traffic {
  std::size_t host_to_device = 0;
  std::size_t device_to_host = 0;

  std::size_t total() const { return host_to_device + device_to_host; }
  transfer_traffic& operator+=(const transfer_traffic& o) {
    host_to_device += o.host_to_device;
    device_to_host += o.device_to_host;
    return *this;
  }
  friend bool operator==(const transfer_traffic&, const transfer_traffic&) = default;
};

}  // namespace kvc
