// A log-linear latency histogram in the style of HdrHistogram: values below kSubBuckets are
// counted exactly; above, each power-of-two range [2^k, 2^(k+1)) is split into kSubBuckets/2
// linear buckets, so a bucket is at most 1/64 of its lower bound wide and the midpoint it
// reports is within 1/128 (0.8%) of every value it holds. It covers all of uint64 in 3776
// fixed counters (30 KiB): no allocation, trivially copyable (it travels through shared memory
// from the measuring process to the reporting one), and record() is a few instructions.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace zcp::perf {

class Histogram {
 public:
  // Linear buckets per power of two, doubled: 128 gives 0.8% precision. Too low loses
  // precision; too high grows the table (and the cache lines a percentile scan touches).
  static constexpr unsigned kSubBits = 7;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBits;          // 128
  static constexpr std::uint64_t kHalf = kSubBuckets / 2;                             // 64
  static constexpr std::size_t kBucketCount = kSubBuckets + (64 - kSubBits) * kHalf;  // 3776

  // The bucket of value v: v itself below kSubBuckets; else the range e = bit_width(v) - 7
  // (v >> e lies in [64, 128)) and the sub-bucket (v >> e) - 64 within it.
  static constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < kSubBuckets) return static_cast<std::size_t>(v);
    const unsigned e = static_cast<unsigned>(std::bit_width(v)) - kSubBits;
    return static_cast<std::size_t>(kSubBuckets + (e - 1) * kHalf + ((v >> e) - kHalf));
  }
  // The smallest and the largest value that bucket i holds.
  static constexpr std::uint64_t lowest_of(std::size_t i) noexcept {
    if (i < kSubBuckets) return i;
    const unsigned e = static_cast<unsigned>((i - kSubBuckets) / kHalf) + 1;
    return ((i - kSubBuckets) % kHalf + kHalf) << e;
  }
  static constexpr std::uint64_t highest_of(std::size_t i) noexcept {
    if (i < kSubBuckets) return i;
    const unsigned e = static_cast<unsigned>((i - kSubBuckets) / kHalf) + 1;
    return lowest_of(i) + ((std::uint64_t{1} << e) - 1);
  }

  void record(std::uint64_t v) noexcept {
    ++counts_[index_of(v)];
    ++total_;
    sum_ += static_cast<double>(v);
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  void reset() noexcept { *this = Histogram{}; }
  void merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i < kBucketCount; ++i)
      counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return total_ == 0 ? 0 : min_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return total_ == 0 ? 0.0 : sum_ / static_cast<double>(total_); }

  // The value at percentile p (0..100): the first bucket whose cumulative count reaches
  // ceil(p% of the samples), reported as its midpoint, clamped to the exact min and max
  // (so p100 is the true max and a histogram of one value reports that value). 0 if empty.
  std::uint64_t percentile(double p) const noexcept {
    if (total_ == 0) return 0;
    p = std::clamp(p, 0.0, 100.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    if (rank == total_) return max_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t lo = lowest_of(i);
        const std::uint64_t mid = lo + (highest_of(i) - lo) / 2;
        return std::clamp(mid, min(), max_);
      }
    }
    return max_;
  }

  std::uint64_t bucket_count_at(std::size_t i) const noexcept { return counts_[i]; }

 private:
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t total_ = 0;
  double sum_ = 0.0;  // double: a sum of 2^64-range values cannot overflow, only round
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

static_assert(Histogram::index_of(~std::uint64_t{0}) == Histogram::kBucketCount - 1,
              "the last bucket must hold UINT64_MAX, or record() would index past the table");
static_assert(Histogram::highest_of(Histogram::kBucketCount - 1) == ~std::uint64_t{0});
static_assert(std::is_trivially_copyable_v<Histogram>,
              "the histogram is copied through shared memory from the measuring process");

}  // namespace zcp::perf
