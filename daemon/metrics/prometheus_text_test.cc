#include "daemon/metrics/prometheus_text.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "tests/daemon/promtool.h"

namespace vmmd::metrics {
namespace {

TEST(PrometheusTextTest, WritesEachFamilyWithHelpTypeAndSamples) {
  PrometheusText page;
  page.Family("vmmd_things_total", PrometheusText::Type::kCounter, "Things counted.");
  page.Sample({{"vm_id", "a"}}, uint64_t{3});
  page.Sample({{"vm_id", "b"}, {"kind", "x"}}, uint64_t{18446744073709551615u});
  page.Family("vmmd_level", PrometheusText::Type::kGauge, "A level.");
  page.Sample({}, 0.25);
  EXPECT_EQ(page.page(),
            "# HELP vmmd_things_total Things counted.\n"
            "# TYPE vmmd_things_total counter\n"
            "vmmd_things_total{vm_id=\"a\"} 3\n"
            "vmmd_things_total{vm_id=\"b\",kind=\"x\"} 18446744073709551615\n"
            "# HELP vmmd_level A level.\n"
            "# TYPE vmmd_level gauge\n"
            "vmmd_level 0.25\n");
}

TEST(PrometheusTextTest, EscapesLabelValuesAndHelp) {
  PrometheusText page;
  page.Family("vmmd_x", PrometheusText::Type::kGauge, "back\\slash and\nnewline \"quoted\"");
  page.Sample({{"v", "a\"b\\c\nd"}}, uint64_t{1});
  EXPECT_EQ(page.page(),
            "# HELP vmmd_x back\\\\slash and\\nnewline \"quoted\"\n"
            "# TYPE vmmd_x gauge\n"
            "vmmd_x{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(PrometheusTextTest, WritesSpecialFloatsAsTheFormatSpellsThem) {
  PrometheusText page;
  page.Family("vmmd_f", PrometheusText::Type::kGauge, "f");
  page.Sample({{"k", "inf"}}, std::numeric_limits<double>::infinity());
  page.Sample({{"k", "-inf"}}, -std::numeric_limits<double>::infinity());
  page.Sample({{"k", "nan"}}, std::nan(""));
  page.Sample({{"k", "tenth"}}, 0.1);
  EXPECT_NE(page.page().find("vmmd_f{k=\"inf\"} +Inf\n"), std::string::npos) << page.page();
  EXPECT_NE(page.page().find("vmmd_f{k=\"-inf\"} -Inf\n"), std::string::npos) << page.page();
  EXPECT_NE(page.page().find("vmmd_f{k=\"nan\"} NaN\n"), std::string::npos) << page.page();
  // Round-trips: 17 significant digits.
  EXPECT_NE(page.page().find("vmmd_f{k=\"tenth\"} 0.10000000000000001\n"), std::string::npos) << page.page();
}

TEST(PrometheusTextTest, SanitizesLabelNames) {
  EXPECT_EQ(SanitizedLabelName("app.kubernetes.io/name"), "app_kubernetes_io_name");
  EXPECT_EQ(SanitizedLabelName("team"), "team");
  EXPECT_EQ(SanitizedLabelName("9lives"), "_9lives");
  EXPECT_EQ(SanitizedLabelName(""), "_");
  EXPECT_EQ(SanitizedLabelName("a-b_c"), "a_b_c");
}

// What Prometheus itself accepts: promtool parses the page and lints its names.
TEST(PrometheusTextTest, PromtoolAcceptsAPageWithEveryKindOfSample) {
  PrometheusText page;
  page.Family("vmmd_requests_total", PrometheusText::Type::kCounter, "Requests.");
  page.Sample({{"vm_id", "vm-1"}, {"device", "root\"disk\\\n"}}, uint64_t{7});
  page.Family("vmmd_memory_bytes", PrometheusText::Type::kGauge, "Memory.");
  page.Sample({}, uint64_t{1} << 30);
  page.Family("vmmd_latency_seconds", PrometheusText::Type::kHistogram, "Latency.");
  page.Sample({{"le", "0.1"}}, uint64_t{1}, "_bucket");
  page.Sample({{"le", "+Inf"}}, uint64_t{2}, "_bucket");
  page.Sample({}, 0.35, "_sum");
  page.Sample({}, uint64_t{2}, "_count");
  const ::vmmd::testing::CommandResult checked = ::vmmd::testing::PromtoolCheckMetrics(page.page());
  EXPECT_EQ(checked.exit_status, 0) << checked.err << checked.out << "\n" << page.page();
  EXPECT_EQ(checked.err + checked.out, "") << page.page();
}

// And that it is a checker that can fail: a counter without _total breaks its lint.
TEST(PrometheusTextTest, PromtoolRefusesWhatBreaksTheConventions) {
  PrometheusText page;
  page.Family("vmmd_requests", PrometheusText::Type::kCounter, "Requests.");
  page.Sample({}, uint64_t{7});
  const ::vmmd::testing::CommandResult checked = ::vmmd::testing::PromtoolCheckMetrics(page.page());
  EXPECT_NE(checked.exit_status, 0);
  EXPECT_NE((checked.err + checked.out).find("_total"), std::string::npos) << checked.err << checked.out;
}

}  // namespace
}  // namespace vmmd::metrics
