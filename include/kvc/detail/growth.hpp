// What an append would allocate, by tier, for checking a byte budget before anything changes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvc/core/accounting.hpp"
#include "kvc/detail/page_pool.hpp"

namespace kvc::detail {

/// Bytes an append would allocate: `direct` for buffers a sequence owns alone, and pages asked
/// of shared pools. Demands on one pool from several sequences of a batch add up before the pool
/// says what slabs they take (page_pool::bytes_to_acquire), so the sum is exact.
struct growth {
  struct demand {
    const page_pool* pool;
    std::size_t pages;
    bool device;    // device tier, else host
    bool metadata;  // not key/value payload (channel copies)
  };
  /// A write into shared page `id`: it is copied, unless the other holders copy it first (of r
  /// holders, at most r - 1 copy; the last one writes the page itself).
  struct copy {
    const page_pool* pool;
    std::uint32_t id;
    bool device, metadata;
  };
  memory_footprint direct;
  std::vector<demand> pooled;
  std::vector<copy> copies;

  void add_pages(const page_pool* pool, std::size_t pages, bool device, bool metadata = false) {
    if (pages == 0) return;
    for (demand& d : pooled)
      if (d.pool == pool) {
        d.pages += pages;
        return;
      }
    pooled.push_back({pool, pages, device, metadata});
  }
  void add_copy(const page_pool* pool, std::uint32_t id, bool device, bool metadata = false) {
    copies.push_back({pool, id, device, metadata});
  }
  growth& operator+=(const growth& o) {
    direct += o.direct;
    for (const demand& d : o.pooled) add_pages(d.pool, d.pages, d.device, d.metadata);
    copies.insert(copies.end(), o.copies.begin(), o.copies.end());
    return *this;
  }
  /// The bytes by tier, pools' slab rule applied.
  memory_footprint bytes() const {
    memory_footprint f = direct;
    std::vector<demand> all = pooled;
    for (std::size_t i = 0; i < copies.size(); ++i) {
      const copy& c = copies[i];
      std::size_t asks = 0, first = i;
      for (std::size_t j = 0; j < copies.size(); ++j)
        if (copies[j].pool == c.pool && copies[j].id == c.id) {
          ++asks;
          first = std::min(first, j);
        }
      if (first != i) continue;  // counted at its first request
      const std::size_t n = std::min<std::size_t>(asks, c.pool->refs(c.id) - 1);
      bool found = false;
      for (demand& d : all)
        if (d.pool == c.pool) d.pages += n, found = true;
      if (!found && n > 0) all.push_back({c.pool, n, c.device, c.metadata});
    }
    for (const demand& d : all) {
      const std::size_t b = d.pool->bytes_to_acquire(d.pages);
      (d.device ? f.device_bytes : f.host_bytes) += b;
      if (d.metadata) f.metadata_bytes += b;
    }
    return f;
  }
};

}  // namespace kvc::detail
