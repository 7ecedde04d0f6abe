// Builds and disarms the public Loan/Sample value types from inside libzcp (their
// constructors are private so that users cannot forge one).
#pragma once

#include <zcp/loan.hpp>
#include <zcp/sample.hpp>

namespace zcp::detail {

struct LoanAccess {
  static Loan<> make(PublisherPort* port, std::byte* data, std::uint32_t size,
                     std::uint32_t capacity, ChunkToken token) noexcept {
    return Loan<>(port, data, size, capacity, token);
  }
  static PublisherPort* port(const Loan<>& l) noexcept { return l.port_; }
  static std::byte* data(const Loan<>& l) noexcept { return l.data_; }
  static std::uint32_t size(const Loan<>& l) noexcept { return l.size_; }
  static const ChunkToken& token(const Loan<>& l) noexcept { return l.token_; }
  // The chunk now belongs to the router: forget it without returning it.
  static void disarm(Loan<>& l) noexcept {
    l.port_ = nullptr;
    l.data_ = nullptr;
    l.size_ = l.capacity_ = 0;
  }
};

struct SampleAccess {
  static Sample<> make(SubscriberPort* port, const std::byte* data, std::uint32_t size,
                       std::uint32_t publisher_id, std::uint64_t sequence,
                       std::uint64_t timestamp_ns, ChunkToken token) noexcept {
    return Sample<>(port, data, size, publisher_id, sequence, timestamp_ns, token);
  }
};

}  // namespace zcp::detail
