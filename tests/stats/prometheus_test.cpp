// to_prometheus against the strict exposition-format parser of prom_parser.hpp, and the
// parser itself against lines it must refuse.
#include <gtest/gtest.h>

#include "prom_parser.hpp"
#include "stats/format.hpp"
#include "stats/snapshot.hpp"
#include "stats_fixture.hpp"

namespace zcp::stats_test {
namespace {

std::string all_errors(const PromResult& r) {
  std::string out;
  for (const std::string& e : r.errors)
    out += e + "\n";
  return out;
}

TEST_F(HandFilledSegment, PrometheusOutputParsesLineByLine) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s) << s.error();
  const std::string text = stats::to_prometheus(*s);
  PromResult r = parse_prometheus(text);
  EXPECT_TRUE(r.errors.empty()) << all_errors(r) << text;
  const PromSample* published = r.find("zcp_publisher_published_total",
                                       {{"service", "svc"}, {"event", "ev"}, {"publisher", "11"}});
  ASSERT_NE(published, nullptr) << text;
  EXPECT_EQ(published->value, 8.0);
  const PromSample* depth = r.find("zcp_subscriber_queue_depth", {{"subscriber", "21"}});
  ASSERT_NE(depth, nullptr);
  EXPECT_EQ(depth->value, 5.0);
  const PromSample* requests = r.find("zcp_daemon_events_total", {{"counter", "requests"}});
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->value, 9.0);
  ASSERT_NE(r.find("zcp_pool_free_chunks", {{"pool", "0"}, {"chunk_size", "128"}}), nullptr);
  ASSERT_NE(r.find("zcp_worker_routed_total", {{"worker", "1"}}), nullptr);
  EXPECT_EQ(r.types.at("zcp_subscriber_dropped_total"), "counter");
  EXPECT_EQ(r.types.at("zcp_subscriber_queue_depth"), "gauge");
}

TEST_F(HandFilledSegment, PrometheusEscapesAwkwardLabelValues) {
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  // Names the protocol would refuse, but the exporter must not trust that.
  const std::string awkward = "a\"b\\c\nd{e}=,f";
  s->publishers[0].service = awkward;
  s->processes[0].name = awkward;
  PromResult r = parse_prometheus(stats::to_prometheus(*s));
  EXPECT_TRUE(r.errors.empty()) << all_errors(r);
  const PromSample* p = r.find("zcp_publisher_published_total", {{"publisher", "11"}});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->labels.at("service"), awkward) << "label values round-trip through the escapes";
  EXPECT_EQ(stats::escape_label_value("x\"y\\z\n"), "x\\\"y\\\\z\\n");
}

TEST_F(HandFilledSegment, PrometheusSeriesStayDistinctForTwinEndpoints) {
  // Two subscribers of one process on one topic: only their ids tell them apart.
  auto s = stats::take_snapshot(*seg_, kNow);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->subscribers.size(), 2U);
  EXPECT_EQ(s->subscribers[0].pid, s->subscribers[1].pid);
  PromResult r = parse_prometheus(stats::to_prometheus(*s));
  EXPECT_TRUE(r.errors.empty()) << all_errors(r);
}

TEST(PromParser, AcceptsAWellFormedExposition) {
  PromResult r = parse_prometheus(
      "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 3\nx_total 4 "
      "1700000000\n"
      "# TYPE y gauge\ny -1.5e3\ny{z=\"\"} +Inf\n");
  EXPECT_TRUE(r.errors.empty()) << all_errors(r);
  EXPECT_EQ(r.samples.size(), 4U);
}

TEST(PromParser, RefusesWhatTheFormatForbids) {
  const char* bad[] = {
      "x 1\n",                                       // no TYPE
      "# TYPE x gauge\nx{a=1} 1\n",                  // unquoted label value
      "# TYPE x gauge\nx{a=\"\\t\"} 1\n",            // bad escape
      "# TYPE x gauge\nx 1\nx 2\n",                  // duplicate series
      "# TYPE x gauge\nx one\n",                     // not a float
      "# TYPE x counter\nx 1\n",                     // counter without _total
      "# TYPE 1x gauge\n",                           // bad name
      "# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n",  // x's block reopened
      "# TYPE x gauge\nx{__a=\"1\"} 1\n",            // reserved label name
      "# TYPE x gauge\nx 1",                         // no final newline
      "# TYPE x gauge\n\nx 1\n",                     // blank line
      "# TYPE x gauge\n# TYPE x gauge\nx 1\n",       // second TYPE
      "# TYPE x gauge\nx{a=\"1\" 1\n",               // labels not closed
  };
  for (const char* text : bad) {
    EXPECT_FALSE(parse_prometheus(text).errors.empty()) << "accepted: " << text;
  }
}

}  // namespace
}  // namespace zcp::stats_test
