#include "import/page.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace runbook::import {

std::string CleanText(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    unsigned char c = in[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= in.size();
    for (int k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(in[i + k]) & 0xC0) == 0x80;
    if (!valid) {  // a Latin-1 byte -> UTF-8
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
      ++i;
      continue;
    }
    if (len == 1 && c < 0x20 && c != '\n' && c != '\t') {  // CR of CRLF, other controls
      ++i;
      continue;
    }
    if (len == 2 && c == 0xC2 && static_cast<unsigned char>(in[i + 1]) < 0xA0) {  // C1 controls
      i += 2;
      continue;
    }
    out.append(in, i, len);
    i += len;
  }
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

std::string OneLine(const std::string& s, size_t max) {
  std::string out;
  for (char c : Trim(s)) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  if (out.size() > max) {
    size_t cut = max - 3;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    out = out.substr(0, cut) + "...";
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

namespace {

// The plain text of a node and its children, inline code included.
std::string TextOf(cmark_node* node, bool lines = false) {
  std::string out;
  cmark_iter* it = cmark_iter_new(node);
  for (cmark_event_type ev; (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE;) {
    cmark_node* n = cmark_iter_get_node(it);
    if (ev != CMARK_EVENT_ENTER) continue;
    switch (cmark_node_get_type(n)) {
      case CMARK_NODE_TEXT:
      case CMARK_NODE_CODE:
      case CMARK_NODE_HTML_INLINE:
        if (const char* l = cmark_node_get_literal(n)) out += l;
        break;
      case CMARK_NODE_SOFTBREAK:
      case CMARK_NODE_LINEBREAK: out += lines ? '\n' : ' '; break;
      default: break;
    }
  }
  cmark_iter_free(it);
  return lines ? out : OneLine(out, 100000);
}

// A node as CommonMark, unwrapped: inline code, links, emphasis and tables
// as the page wrote them.
std::string MarkdownOf(cmark_node* node) {
  char* s = cmark_render_commonmark(node, CMARK_OPT_DEFAULT, 0);
  std::string out = s ? s : "";
  std::free(s);
  return Trim(out);
}

bool AllStrong(cmark_node* paragraph) {
  cmark_node* first = cmark_node_first_child(paragraph);
  if (!first || cmark_node_get_type(first) != CMARK_NODE_STRONG) return false;
  for (cmark_node* n = cmark_node_next(first); n; n = cmark_node_next(n)) {
    if (cmark_node_get_type(n) != CMARK_NODE_TEXT) return false;
    const char* l = cmark_node_get_literal(n);
    if (l && Trim(l) != "" && Trim(l) != ":") return false;
  }
  return true;
}

bool IsType(cmark_node* n, const char* type) { return std::strcmp(cmark_node_get_type_string(n), type) == 0; }

Block Convert(cmark_node* n);

// The blocks of a container (document, item, quote), with MkDocs
// admonitions ("!!! warning" and its indented body) made one note.
std::vector<Block> BlocksOf(cmark_node* from, cmark_node* stop) {
  std::vector<Block> out;
  for (cmark_node* n = from; n && n != stop; n = cmark_node_next(n)) {
    if (cmark_node_get_type(n) == CMARK_NODE_THEMATIC_BREAK) continue;
    Block b = Convert(n);
    if (b.kind == Block::Kind::kParagraph && (b.text.rfind("!!! ", 0) == 0 || b.text.rfind("??? ", 0) == 0)) {
      // "!!! warning "Title"" and its indented body: on the next lines of
      // the same paragraph, or an indented code block after a blank line.
      std::string plain = TextOf(n, true);
      size_t nl = plain.find('\n');
      std::string head = Trim(plain.substr(4, nl == std::string::npos ? std::string::npos : nl - 4));
      std::string body;
      if (nl != std::string::npos) {
        std::istringstream rest(plain.substr(nl + 1));
        for (std::string line; std::getline(rest, line);) body += (body.empty() ? "" : "\n") + Trim(line);
      }
      std::string kind = head.substr(0, head.find(' '));
      std::string title = Trim(head.substr(kind.size()));
      if (title.size() >= 2 && title.front() == '"' && title.back() == '"') title = title.substr(1, title.size() - 2);
      cmark_node* next = cmark_node_next(n);
      if (next && next != stop && cmark_node_get_type(next) == CMARK_NODE_CODE_BLOCK &&
          !cmark_node_get_fenced(next, nullptr, nullptr, nullptr)) {
        if (const char* l = cmark_node_get_literal(next)) body += (body.empty() ? "" : "\n\n") + Trim(l);
        n = next;
      }
      if (!kind.empty()) kind[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(kind[0])));
      b.kind = Block::Kind::kNote;
      b.markdown = "**" + kind + (title.empty() ? "" : ": " + title) + "**" + (body.empty() ? "" : "\n\n" + body);
      b.text = OneLine(kind + (title.empty() ? "" : ": " + title) + " " + body, 100000);
    }
    out.push_back(std::move(b));
  }
  return out;
}

Block Convert(cmark_node* n) {
  Block b;
  b.line = cmark_node_get_start_line(n);
  switch (cmark_node_get_type(n)) {
    case CMARK_NODE_PARAGRAPH:
      b.kind = Block::Kind::kParagraph;
      b.text = TextOf(n);
      b.markdown = MarkdownOf(n);
      b.strong_label = AllStrong(n);
      return b;
    case CMARK_NODE_CODE_BLOCK: {
      b.kind = Block::Kind::kCode;
      const char* info = cmark_node_get_fence_info(n);
      b.info = info ? Trim(info) : "";
      b.lang = Lower(b.info.substr(0, b.info.find_first_of(" {")));
      const char* lit = cmark_node_get_literal(n);
      b.code = lit ? lit : "";
      return b;
    }
    case CMARK_NODE_LIST: {
      b.kind = Block::Kind::kList;
      b.ordered = cmark_node_get_list_type(n) == CMARK_ORDERED_LIST;
      for (cmark_node* it = cmark_node_first_child(n); it; it = cmark_node_next(it)) {
        Item item;
        item.line = cmark_node_get_start_line(it);
        if (IsType(it, "tasklist"))
          item.task = cmark_gfm_extensions_get_tasklist_item_checked(it) ? Item::Task::kDone : Item::Task::kOpen;
        cmark_node* first = cmark_node_first_child(it);
        cmark_node* rest = first;
        if (first && cmark_node_get_type(first) == CMARK_NODE_PARAGRAPH) {
          item.text = TextOf(first);
          item.markdown = MarkdownOf(first);
          rest = cmark_node_next(first);
        }
        for (const char* box : {"[ ] ", "[x] ", "[X] "}) {  // a task box the extension did not take
          if (item.text.rfind(box, 0) != 0) continue;
          item.task = box[1] == ' ' ? Item::Task::kOpen : Item::Task::kDone;
          item.text = item.text.substr(4);
          if (item.markdown.size() >= 4) item.markdown = Trim(item.markdown.substr(item.markdown.find(']') + 1));
        }
        item.blocks = BlocksOf(rest, nullptr);
        b.items.push_back(std::move(item));
      }
      return b;
    }
    case CMARK_NODE_BLOCK_QUOTE:
      b.kind = Block::Kind::kQuote;
      b.markdown = MarkdownOf(n);
      b.text = TextOf(n);
      return b;
    default:
      if (IsType(n, "table")) {
        b.kind = Block::Kind::kTable;
        for (cmark_node* row = cmark_node_first_child(n); row; row = cmark_node_next(row)) {
          std::vector<std::string> cells;
          for (cmark_node* cell = cmark_node_first_child(row); cell; cell = cmark_node_next(cell))
            cells.push_back(TextOf(cell));
          b.rows.push_back(std::move(cells));
        }
        b.markdown = MarkdownOf(n);
        b.text = TextOf(n);
        return b;
      }
      b.kind = Block::Kind::kOther;  // HTML, anything else: shown as written
      if (const char* l = cmark_node_get_literal(n)) b.markdown = Trim(l);
      else b.markdown = MarkdownOf(n);
      b.text = OneLine(b.markdown, 100000);
      return b;
  }
}

// "---" at the very start, then YAML, then "---" or "...": the scalar keys,
// in order. The lines are blanked so that the Markdown keeps its line numbers.
void TakeFrontMatter(std::string* text, Page* page) {
  if (text->rfind("---\n", 0) != 0) return;
  size_t end = std::string::npos;
  for (const char* close : {"\n---\n", "\n...\n"}) end = std::min(end, text->find(close, 3));
  if (end == std::string::npos) return;
  std::string yaml = text->substr(4, end - 3);
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) return;
    for (const auto& kv : root) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      std::string value;
      if (kv.second.IsScalar()) {
        value = kv.second.Scalar();
      } else if (kv.second.IsSequence()) {
        for (const auto& v : kv.second)
          if (v.IsScalar()) value += (value.empty() ? "" : ", ") + v.Scalar();
      }
      if (!key.empty()) page->front.emplace_back(key, value);
    }
  } catch (const YAML::Exception&) {
    return;  // not YAML after all: left as Markdown
  }
  for (size_t i = 0; i < end + 4; ++i)
    if ((*text)[i] != '\n') (*text)[i] = ' ';
}

}  // namespace

Page ReadPage(const std::string& input) {
  Page page;
  std::string text = input;
  TakeFrontMatter(&text, &page);
  cmark_gfm_core_extensions_ensure_registered();
  cmark_parser* parser = cmark_parser_new(CMARK_OPT_DEFAULT);
  for (const char* ext : {"table", "tasklist"})
    if (cmark_syntax_extension* e = cmark_find_syntax_extension(ext)) cmark_parser_attach_syntax_extension(parser, e);
  cmark_parser_feed(parser, text.data(), text.size());
  cmark_node* doc = cmark_parser_finish(parser);

  // Headings open sections; a heading closes every open section of its level or deeper.
  std::vector<Section*> open{&page.root};
  for (cmark_node* n = cmark_node_first_child(doc); n;) {
    if (cmark_node_get_type(n) == CMARK_NODE_HEADING) {
      int level = cmark_node_get_heading_level(n);
      std::string heading = TextOf(n);
      if (level == 1 && page.title.empty() && page.root.children.empty()) {
        page.title = heading;
        n = cmark_node_next(n);
        continue;
      }
      while (open.size() > 1 && open.back()->level >= level) open.pop_back();
      Section s;
      s.heading = heading;
      s.level = level;
      s.line = cmark_node_get_start_line(n);
      open.back()->children.push_back(std::move(s));
      open.push_back(&open.back()->children.back());
      n = cmark_node_next(n);
      continue;
    }
    // The blocks up to the next heading belong to the innermost open section.
    cmark_node* stop = n;
    while (stop && cmark_node_get_type(stop) != CMARK_NODE_HEADING) stop = cmark_node_next(stop);
    for (Block& b : BlocksOf(n, stop)) open.back()->blocks.push_back(std::move(b));
    n = stop;
  }
  cmark_node_free(doc);
  cmark_parser_free(parser);
  return page;
}

}  // namespace runbook::import
