// A Markdown page as the importer reads it: front matter, then a tree of
// sections by heading level, each holding its blocks in the page's order.
// Every block keeps its Markdown (inline code, links and emphasis) so that
// a draft can show it as the page did.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace runbook::import {

struct Block;

struct Item {  // a list item
  std::string text;      // plain, one line: for names and matching
  std::string markdown;  // its first paragraph as Markdown
  enum class Task { kNone, kOpen, kDone } task = Task::kNone;
  std::vector<Block> blocks;  // what follows the first paragraph: code, lists, more text
  int line = 0;
};

struct Block {
  enum class Kind { kParagraph, kCode, kList, kTable, kQuote, kNote, kOther };
  Kind kind = Kind::kParagraph;
  int line = 0;
  std::string text;      // plain, one line (paragraphs, notes)
  std::string markdown;  // the block as Markdown (all but kCode and kList)
  std::string info;      // kCode: the fence's info string, as written
  std::string lang;      // kCode: its first word, lower case ("" untagged or indented)
  std::string code;      // kCode: the literal text
  bool strong_label = false;  // a paragraph that is all bold: "**Option 1: skip the event**"
  std::vector<Item> items;    // kList
  bool ordered = false;       // kList
  std::vector<std::vector<std::string>> rows;  // kTable: plain cell texts, header first
};

struct Section {
  std::string heading;  // plain text ("" for the page before any heading)
  int level = 0;        // 0: the page itself
  int line = 0;
  std::vector<Block> blocks;
  std::vector<Section> children;
};

struct Page {
  std::vector<std::pair<std::string, std::string>> front;  // front matter, scalar values, in order
  std::string title;                                       // the first level-1 heading
  Section root;
};

// `text` must be valid UTF-8 (see CleanText). Front matter ("---" lines at
// the very start) is read as YAML; anything else is Markdown (CommonMark
// with GitHub tables and task lists; MkDocs "!!! note" admonitions).
Page ReadPage(const std::string& text);

// Valid UTF-8 without control characters (tabs and newlines kept, CR
// dropped); bytes that are not UTF-8 are read as Latin-1.
std::string CleanText(const std::string& in);

std::string Trim(const std::string& s);
std::string Lower(std::string s);  // ASCII letters
// One line, at most `max` bytes (cut at a character boundary, with "...").
std::string OneLine(const std::string& s, size_t max = 90);

}  // namespace runbook::import
