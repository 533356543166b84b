#include "daemon/labels.h"

#include <string>

#include "base/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmmd {
namespace {

using ::testing::HasSubstr;
using ::vmmd::testing::StatusIs;

// A DNS subdomain of 253 characters: four labels of 62 and one of 1, joined by dots.
std::string LongPrefix() {
  const std::string label(62, 'p');
  return label + "." + label + "." + label + "." + label + ".q";
}

TEST(ValidateLabelsTest, KubernetesStyleLabelsPass) {
  ASSERT_EQ(LongPrefix().size(), 253u);
  EXPECT_OK(ValidateLabels({}));
  EXPECT_OK(ValidateLabels({{"app", "web"},
                            {"tier", ""},
                            {"example.com/owner", "team-a"},
                            {"a", std::string(63, 'v')},
                            {LongPrefix() + "/n", "x.y_z-1"},
                            {std::string(63, 'k'), "1"}}));
}

TEST(ValidateLabelsTest, EachRuleIsNamed) {
  const struct {
    Labels labels;
    const char* message;
  } cases[] = {
      {{{"", "v"}}, "labels[\"\"]: key is empty"},
      {{{std::string(64, 'k'), "v"}}, "key is 64 characters; the limit is 63"},
      {{{"-app", "v"}}, "must begin and end with a letter or digit"},
      {{{"app_", "v"}}, "must begin and end with a letter or digit"},
      {{{"a b", "v"}}, "holds ' '"},
      {{{"Example.com/app", "v"}}, "prefix is not a DNS subdomain"},
      {{{"example..com/app", "v"}}, "prefix is not a DNS subdomain"},
      {{{std::string(254, 'p') + "/app", "v"}}, "prefix is 254 characters; the limit is 253"},
      {{{"example.com/", "v"}}, "key's name is empty"},
      {{{"app", std::string(64, 'v')}}, "labels[\"app\"]: value is 64 characters; the limit is 63"},
      {{{"app", "web server"}}, "value holds ' '"},
      {{{"app", "-web"}}, "value must begin and end"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(ValidateLabels(c.labels), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.message;
  }
  Labels many;
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_THAT(ValidateLabels(many), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("labels: 65 labels; the limit is 64")));
}

TEST(LabelSelectorTest, EqualityRequirementsAllMustHold) {
  const Labels web = {{"app", "web"}, {"tier", "front"}};
  const Labels db = {{"app", "db"}};
  ASSERT_OK_AND_ASSIGN(LabelSelector app_web, LabelSelector::Parse("app=web"));
  EXPECT_TRUE(app_web.Matches(web));
  EXPECT_FALSE(app_web.Matches(db));
  EXPECT_FALSE(app_web.Matches({}));
  ASSERT_OK_AND_ASSIGN(LabelSelector both, LabelSelector::Parse(" app == web , tier!=back"));
  EXPECT_TRUE(both.Matches(web));
  EXPECT_FALSE(both.Matches({{"app", "web"}, {"tier", "back"}}));
  ASSERT_OK_AND_ASSIGN(LabelSelector not_db, LabelSelector::Parse("app!=db"));
  EXPECT_TRUE(not_db.Matches(web));
  EXPECT_FALSE(not_db.Matches(db));
  EXPECT_TRUE(not_db.Matches({})) << "an absent key is not equal to db";
  ASSERT_OK_AND_ASSIGN(LabelSelector empty_value, LabelSelector::Parse("tier="));
  EXPECT_TRUE(empty_value.Matches({{"tier", ""}}));
  EXPECT_FALSE(empty_value.Matches({}));
  ASSERT_OK_AND_ASSIGN(LabelSelector everything, LabelSelector::Parse(""));
  EXPECT_TRUE(everything.Matches(db));
}

TEST(LabelSelectorTest, MalformedRequirementsAreNamed) {
  EXPECT_THAT(LabelSelector::Parse("app"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("label_selector: requirement \"app\" is not key=value")));
  EXPECT_THAT(LabelSelector::Parse("app=web,,x=y"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("requirement \"\"")));
  EXPECT_THAT(LabelSelector::Parse("=web"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key is empty")));
  EXPECT_THAT(LabelSelector::Parse("a=b=c"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("value holds '='")));
  EXPECT_THAT(LabelSelector::Parse("app in (a,b)"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not key=value")));
  EXPECT_THAT(LabelSelector::Parse(std::string(5000, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the limit is 4096")));
}

}  // namespace
}  // namespace vmmd
