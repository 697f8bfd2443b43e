// A pool of fixed-size, reference-counted pages carved from huge-page slabs, shared by the
// sequences of one layer (vLLM's block pool; a fork shares pages, a write to a shared one copies it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "kvc/core/accounting.hpp"
#include "kvc/core/error.hpp"
#include "kvc/detail/huge_buffer.hpp"

namespace kvc::detail {

/// Pages of `page_bytes` bytes, each with a reference count. Pages come from slabs: the first
/// `slab_after` slabs' worth one page per slab, then slabs of at least 2 MiB (huge_page_bytes),
/// so a long sequence sits on transparent huge pages while a short one wastes at most a page. A
/// slab whose pages are all free is released at once, so memory follows what sequences hold.
///
/// `allocated_bytes()` counts slabs as allocated; `used_pages()` the pages some sequence holds.
/// `bytes_to_acquire(k)` is what acquiring k more pages would allocate, computed by the same
/// slab rule `acquire` follows, so budgets can be checked before anything changes.
class page_pool {
 public:
  /// `pages_per_slab`: pages of a grown slab; 0 fits them to 2 MiB (1 gives each page its own
  /// allocation, for pages that are large already).
  explicit page_pool(std::size_t page_bytes, std::size_t pages_per_slab = 0)
      : page_bytes_(page_bytes),
        pages_per_slab_(pages_per_slab ? pages_per_slab : std::max<std::size_t>(1, huge_page_bytes / std::max<std::size_t>(1, page_bytes))) {
    require(page_bytes > 0, "page_pool: page size must be positive");
  }
  page_pool(const page_pool&) = delete;
  page_pool& operator=(const page_pool&) = delete;

  std::size_t page_bytes() const { return page_bytes_; }
  std::size_t allocated_bytes() const { return allocated_bytes_; }
  std::size_t used_pages() const { return used_pages_; }
  /// The pool as allocated, in the device tier or the host tier (`metadata`: it holds no
  /// key/value payload); on the device, its free pages are reserved bytes (held, no token).
  memory_footprint footprint(bool device, bool metadata = false) const {
    memory_footprint f;
    (device ? f.device_bytes : f.host_bytes) = allocated_bytes_;
    if (metadata) f.metadata_bytes = allocated_bytes_;
    if (device) f.reserved_bytes = allocated_bytes_ - used_pages_ * page_bytes_;
    return f;
  }

  /// A new page with reference count 1 (its bytes uninitialised).
  std::uint32_t acquire() {
    if (free_.empty()) add_slab(next_slab_pages(live_slab_pages_));
    const std::uint32_t id = free_.back();
    free_.pop_back();
    refs_[id] = 1;
    ++slabs_[slab_of_[id]].used;
    ++used_pages_;
    return id;
  }
  void retain(std::uint32_t id) { ++refs_[id]; }
  void release(std::uint32_t id) {
    if (--refs_[id] > 0) return;
    --used_pages_;
    slab& s = slabs_[slab_of_[id]];
    free_.push_back(id);
    if (--s.used == 0) free_slab(slab_of_[id]);
  }
  std::uint32_t refs(std::uint32_t id) const { return refs_[id]; }
  std::byte* data(std::uint32_t id) const { return pages_[id]; }

  /// Bytes that acquiring `pages` more pages now would allocate (0 when free pages cover them).
  std::size_t bytes_to_acquire(std::size_t pages) const {
    std::size_t have = free_.size(), live = live_slab_pages_, bytes = 0;
    while (have < pages) {
      const std::size_t n = next_slab_pages(live);
      bytes += buffer_bytes<std::byte>(n * page_bytes_);
      have += n;
      live += n;
    }
    return bytes;
  }

 private:
  static constexpr std::size_t slab_after = 4;  // slabs' worth held before slabs grow to 2 MiB
  std::size_t next_slab_pages(std::size_t live_pages) const {
    return live_pages >= slab_after * pages_per_slab_ ? pages_per_slab_ : 1;
  }
  struct slab {
    std::unique_ptr<std::byte[], free_deleter> memory;
    std::vector<std::uint32_t> ids;  // the page ids carved from it
    std::size_t used = 0;
  };
  void add_slab(std::size_t pages) {
    std::size_t index = 0;
    while (index < slabs_.size() && slabs_[index].memory) ++index;
    if (index == slabs_.size()) slabs_.emplace_back();
    slab& s = slabs_[index];
    s.memory = make_buffer<std::byte>(pages * page_bytes_);
    allocated_bytes_ += buffer_bytes<std::byte>(pages * page_bytes_);
    live_slab_pages_ += pages;
    for (std::size_t i = 0; i < pages; ++i) {
      std::uint32_t id;
      if (!spare_ids_.empty()) {
        id = spare_ids_.back();
        spare_ids_.pop_back();
      } else {
        id = std::uint32_t(pages_.size());
        pages_.push_back(nullptr);
        refs_.push_back(0);
        slab_of_.push_back(0);
      }
      pages_[id] = s.memory.get() + i * page_bytes_;
      slab_of_[id] = std::uint32_t(index);
      s.ids.push_back(id);
    }
    // hand out the slab's pages in address order
    for (auto it = s.ids.rbegin(); it != s.ids.rend(); ++it) free_.push_back(*it);
  }
  void free_slab(std::uint32_t index) {
    slab& s = slabs_[index];
    std::erase_if(free_, [&](std::uint32_t id) { return slab_of_[id] == index; });
    for (std::uint32_t id : s.ids) {
      pages_[id] = nullptr;
      spare_ids_.push_back(id);
    }
    allocated_bytes_ -= buffer_bytes<std::byte>(s.ids.size() * page_bytes_);
    live_slab_pages_ -= s.ids.size();
    s.ids.clear();
    s.memory.reset();
  }

  std::size_t page_bytes_, pages_per_slab_;
  std::vector<slab> slabs_;
  std::vector<std::byte*> pages_;       // by page id
  std::vector<std::uint32_t> refs_;     // by page id
  std::vector<std::uint32_t> slab_of_;  // by page id
  std::vector<std::uint32_t> free_;     // ids of free pages in live slabs
  std::vector<std::uint32_t> spare_ids_;  // ids whose slab was released
  std::size_t allocated_bytes_ = 0, used_pages_ = 0, live_slab_pages_ = 0;
};

/// One sequence's pages of a shared pool, in order: copying shares them (retains each),
/// destruction releases them. `writable(i)` makes page i private first (copy-on-write).
class page_list {
 public:
  explicit page_list(std::shared_ptr<page_pool> pool) : pool_(std::move(pool)) {}
  page_list(const page_list& o) : pool_(o.pool_), ids_(o.ids_) {
    for (std::uint32_t id : ids_) pool_->retain(id);
  }
  page_list& operator=(const page_list& o) {
    if (this != &o) {
      page_list copy(o);
      swap(copy);
    }
    return *this;
  }
  page_list(page_list&& o) noexcept : pool_(o.pool_), ids_(std::move(o.ids_)) { o.ids_.clear(); }
  page_list& operator=(page_list&& o) noexcept {
    if (this != &o) {
      resize(0);
      pool_ = o.pool_;
      ids_ = std::move(o.ids_);
      o.ids_.clear();
    }
    return *this;
  }
  ~page_list() { resize(0); }
  void swap(page_list& o) noexcept {
    std::swap(pool_, o.pool_);
    std::swap(ids_, o.ids_);
  }

  std::size_t size() const { return ids_.size(); }
  const std::shared_ptr<page_pool>& pool() const { return pool_; }
  std::uint32_t id(std::size_t i) const { return ids_[i]; }
  const std::byte* data(std::size_t i) const { return pool_->data(ids_[i]); }
  /// True when another sequence also holds page i.
  bool shared(std::size_t i) const { return pool_->refs(ids_[i]) > 1; }
  /// Page i for writing: a shared page is first copied to a private one (`used_bytes` of it).
  std::byte* writable(std::size_t i, std::size_t used_bytes) {
    if (shared(i)) {
      const std::uint32_t fresh = pool_->acquire();
      std::memcpy(pool_->data(fresh), pool_->data(ids_[i]), used_bytes);
      pool_->release(ids_[i]);
      ids_[i] = fresh;
    }
    return pool_->data(ids_[i]);
  }
  /// Appends a fresh page and returns it.
  std::byte* push() {
    ids_.push_back(pool_->acquire());
    return pool_->data(ids_.back());
  }
  /// Keeps the first n pages, releasing the rest.
  void resize(std::size_t n) {
    while (ids_.size() > n) {
      pool_->release(ids_.back());
      ids_.pop_back();
    }
  }
  /// Bytes of the pages held (each counted in full, shared or not).
  std::size_t bytes() const { return ids_.size() * pool_->page_bytes(); }

 private:
  std::shared_ptr<page_pool> pool_;
  std::vector<std::uint32_t> ids_;
};

}  // namespace kvc::detail
