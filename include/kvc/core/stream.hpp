// kvc::stream: an opaque execution stream handed through every call, so headers need no CUDA types.
#pragma once

namespace kvc {

/// An execution stream: on a CUDA backend the engine's `cudaStream_t`, cast to `void*`; the
/// default-constructed stream is the backend's default (CUDA's legacy stream 0).
///
/// Ordering contract: a call that takes a stream reads its inputs and writes its outputs in
/// stream order; its outputs are ready once the stream reaches the point of the call. CPU caches
/// and the CPU backend run synchronously on the calling thread, so their outputs are ready when
/// the call returns and the stream is not used (their inputs must be host memory, which the
/// memory-space checks enforce).
class stream {
 public:
  constexpr stream() = default;
  /// Wraps a native stream handle (a `cudaStream_t` on CUDA).
  constexpr explicit stream(void* native) : native_(native) {}

  /// The native handle (nullptr for the default stream).
  constexpr void* native() const { return native_; }
  constexpr bool is_default() const { return native_ == nullptr; }
  friend constexpr bool operator==(stream, stream) = default;

 private:
  void* native_ = nullptr;
};

}  // namespace kvc
