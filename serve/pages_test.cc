// The run page over a record an older or hostile engine may have written.
#include "serve/pages.h"

#include <gtest/gtest.h>

namespace runbook::serve {
namespace {

TEST(PagesTest, NoRecordedTextCanCloseThePagesScript) {
  ReportInput in;
  in.run.id = "</script><script>alert(1)</script>";
  in.run.runbook = "rb";
  std::string page = RunPage(in);
  EXPECT_EQ(page.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(page.find("const run=\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\""),
            std::string::npos);
  // One script element: the page's own.
  size_t scripts = 0;
  for (size_t at = page.find("<script"); at != std::string::npos; at = page.find("<script", at + 1)) ++scripts;
  EXPECT_EQ(scripts, 1u);
}

}  // namespace
}  // namespace runbook::serve
