// OffsetBook: generations per assignment, the position never passes an
// incomplete event, and what a commit sends (again).
#include <gtest/gtest.h>

#include "commit/offset_book.hpp"
#include "parts_support.hpp"

namespace lockstep::runtime {
namespace {

const TopicPartition kP0{"t", 0};

TEST(OffsetBookTest, PositionStopsAtTheLowestIncompleteEvent) {
  OffsetBook book;
  book.assign({kP0});
  const auto g = book.track("t", 0, 10);
  ASSERT_TRUE(g);
  book.track("t", 0, 11);
  book.track("t", 0, 12);
  book.complete(*test::work_at("t", 0, 10, *g));
  book.complete(*test::work_at("t", 0, 12, *g));
  ASSERT_EQ(book.positions().size(), 1u);
  EXPECT_EQ(book.positions()[0].offset, 11) << "11 has no outcome yet";
  book.complete(*test::work_at("t", 0, 11, *g));
  EXPECT_EQ(book.positions()[0].offset, 13);
}

TEST(OffsetBookTest, AnEventOfAnEarlierAssignmentNoLongerCounts) {
  OffsetBook book;
  book.assign({kP0});
  const auto old_gen = *book.track("t", 0, 5);
  auto old_work = test::work_at("t", 0, 5, old_gen);
  EXPECT_TRUE(book.current(*old_work));
  book.release({kP0}, [](const TopicPartition&) {});
  EXPECT_FALSE(book.track("t", 0, 6)) << "not ours any more";
  EXPECT_FALSE(book.current(*old_work));
  book.assign({kP0});
  EXPECT_FALSE(book.current(*old_work)) << "assigned again: a new generation";
  const auto new_gen = *book.track("t", 0, 5);
  EXPECT_NE(new_gen, old_gen);
  book.complete(*old_work);  // ignored
  EXPECT_EQ(book.positions()[0].offset, 5);
}

TEST(OffsetBookTest, APositionIsSentOnceUntilItMovesOrTheSendFailed) {
  OffsetBook book;
  book.assign({kP0, {"t", 1}});
  const auto g = *book.track("t", 0, 0);
  book.complete(*test::work_at("t", 0, 0, g));
  const auto first = book.take_positions(false, nullptr);
  ASSERT_EQ(first.size(), 1u) << "partition 1 has no position yet";
  EXPECT_EQ(first[0].offset, 1);
  EXPECT_TRUE(book.take_positions(false, nullptr).empty()) << "unchanged and sent just now";
  EXPECT_EQ(book.take_positions(true, nullptr).size(), 1u) << "all: sent again";
  book.unsend(first);
  EXPECT_EQ(book.take_positions(false, nullptr).size(), 1u) << "the failed send goes again";
  const std::set<TopicPartition> only{{"t", 1}};
  EXPECT_TRUE(book.take_positions(true, &only).empty());
}

}  // namespace
}  // namespace lockstep::runtime
