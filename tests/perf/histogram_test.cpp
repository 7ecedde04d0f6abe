// zcp-perf's log-linear histogram: exact below 128, bucket geometry, ~1% precision over the
// whole uint64 range, percentiles against a sorted reference, merge, and the empty case.
#include "histogram.hpp"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace {

using zcp::perf::Histogram;

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 0; v < Histogram::kSubBuckets; ++v) {
    EXPECT_EQ(Histogram::index_of(v), v);
    h.record(v);
  }
  EXPECT_EQ(h.count(), Histogram::kSubBuckets);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 127u);
  EXPECT_EQ(h.percentile(50), 63u);  // rank 64 of 0..127
  EXPECT_EQ(h.percentile(100), 127u);
  EXPECT_DOUBLE_EQ(h.mean(), 63.5);
}

TEST(Histogram, BucketsTileTheRangeWithoutGaps) {
  for (std::size_t i = 0; i + 1 < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(Histogram::highest_of(i) + 1, Histogram::lowest_of(i + 1)) << "bucket " << i;
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_of(i)), i);
    ASSERT_EQ(Histogram::index_of(Histogram::highest_of(i)), i);
  }
  EXPECT_EQ(Histogram::index_of(UINT64_MAX), Histogram::kBucketCount - 1);
}

TEST(Histogram, BucketWidthIsUnderOnePercentOfItsValues) {
  for (std::size_t i = Histogram::kSubBuckets; i < Histogram::kBucketCount; ++i) {
    const double lo = static_cast<double>(Histogram::lowest_of(i));
    const double width = static_cast<double>(Histogram::highest_of(i)) - lo + 1;
    ASSERT_LE(width / lo, 1.0 / 64 + 1e-12) << "bucket " << i;
  }
}

TEST(Histogram, PercentilesMatchASortedReferenceWithinOnePercent) {
  std::mt19937_64 rng(42);
  // Log-uniform from 100 ns to 10 ms: a latency-like spread over many powers of two.
  std::uniform_real_distribution<double> exp10(2.0, 7.0);
  std::vector<std::uint64_t> ref;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::uint64_t>(std::pow(10.0, exp10(rng)));
    ref.push_back(v);
    h.record(v);
  }
  std::sort(ref.begin(), ref.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const auto rank =
        static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(ref.size())));
    const double want = static_cast<double>(ref[rank - 1]);
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, want, want * 0.01) << "p" << p;
  }
  EXPECT_EQ(h.percentile(100), ref.back());
  EXPECT_EQ(h.min(), ref.front());
  EXPECT_EQ(h.max(), ref.back());
}

TEST(Histogram, OneValueReportsItselfAtEveryPercentile) {
  Histogram h;
  h.record(123456789);
  for (double p : {0.0, 50.0, 99.9, 100.0})
    EXPECT_EQ(h.percentile(p), 123456789u);
}

TEST(Histogram, ExtremesDoNotOverflow) {
  Histogram h;
  h.record(0);
  h.record(UINT64_MAX);
  EXPECT_EQ(h.bucket_count_at(0), 1u);
  EXPECT_EQ(h.bucket_count_at(Histogram::kBucketCount - 1), 1u);
  EXPECT_EQ(h.percentile(100), UINT64_MAX);
  EXPECT_EQ(h.percentile(50), 0u);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  Histogram a, b, all;
  for (std::uint64_t v = 1; v < 100000; v += 7) {
    (v % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 90.0, 99.0})
    EXPECT_EQ(a.percentile(p), all.percentile(p));
}

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  h.record(5);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
}

}  // namespace
