// Command-line flags: values, booleans, errors that name the flag, and --help's usage list.
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/core/flags.h"

namespace gptoss::cli {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<Flags> Parse(std::vector<const char*> args) {
  return Flags::Parse(static_cast<int>(args.size()), const_cast<char**>(args.data()),
                      {"port", "model"}, {"verbose"});
}

TEST(FlagsTest, ValuesBooleansAndErrors) {
  auto f = Parse({"--port", "5", "--model=dir", "--verbose"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->GetInt("port", 0).value(), 5);
  EXPECT_EQ(f->GetOr("model", ""), "dir");
  EXPECT_TRUE(f->Has("verbose"));
  EXPECT_FALSE(f->help());
  EXPECT_THAT(Parse({"--bogus", "1"}).status().message(), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"--port"}).status().message(), HasSubstr("--port needs a value"));
  EXPECT_THAT(Parse({"--verbose=1"}).status().message(), HasSubstr("takes no value"));
  EXPECT_THAT(Parse({"stray"}).status().message(), HasSubstr("stray"));
}

TEST(FlagsTest, HelpListsEveryFlag) {
  auto f = Parse({"--help"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->help());
  EXPECT_EQ(f->Usage(), "flags:\n  --help\n  --model VALUE\n  --port VALUE\n  --verbose\n");
}

}  // namespace
}  // namespace gptoss::cli
