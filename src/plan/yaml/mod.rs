//! Loading a plan's YAML into a tree that remembers where every node was written.
//!
//! This module owns the text-to-tree step and nothing else: [`load_file`] / [`parse`] turn bytes
//! into a [`Node`] tree, with every node's line and column, and `plan::validate` walks that tree
//! with the toolkit in [`diag`] ([`MapReader`], `expect_*`, [`Diagnostics`]) so that every
//! problem in a plan is reported at once with its file, line, column and YAML path.
//!
//! A plan comes from a pull request, so the loader treats its input as hostile and fails fast, in
//! bounded time and memory:
//!
//! - the size is checked (from file metadata, before reading) against [`Limits::max_bytes`];
//! - invalid UTF-8 and control characters are refused at their position;
//! - a lexical pre-pass (`prescan`) bounds flow nesting and the size of any one flow collection
//!   before yaml-rust2's scanner, which buffers whole flow collections, sees the text;
//! - the tree is built iteratively from yaml-rust2's event stream (`Parser::next_token`, not
//!   `Parser::load`, which recurses once per nesting level and overflows the stack on
//!   10 000-deep input), with the depth checked at every collection;
//! - aliases are expanded into copies, and every node, including every copy, is counted against
//!   [`Limits::max_nodes`] *before* it is made, so an alias bomb stops after at most that many.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (so `no`, `on` and `1_000` are
//! strings, unlike YAML 1.1); quoted and block scalars are always strings. Merge keys (`<<`) are
//! supported. Nodes copied from an anchor keep the anchor's positions: an error in the content
//! points at the place where it was written.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

pub mod diag;
pub mod node;
mod prescan;

pub use diag::{
    did_you_mean, expect_bool, expect_f64, expect_i64, expect_map, expect_seq, expect_str,
    expect_u64, render_diagnostics, Diagnostic, Diagnostics, MapReader, YamlPath,
};
pub use node::{Limits, Mark, Node, Value, YamlError};

/// Why a plan file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is {size} bytes; a plan may be at most {max} bytes", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        max: usize,
    },
    #[error("invalid YAML in {}", path.display())]
    Yaml {
        path: PathBuf,
        #[source]
        source: YamlError,
    },
}

/// A parsed plan: its tree, and the scalars whose value was wrong (each a null in the tree), so
/// that they are reported with every other problem of the plan instead of alone.
#[derive(Debug)]
pub struct Parsed {
    pub root: Node,
    pub value_errors: Vec<YamlError>,
}

impl Parsed {
    /// The tree, or the first value error.
    fn into_root(self) -> Result<Node, YamlError> {
        match self.value_errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(self.root),
        }
    }
}

/// Reads and parses a plan file. Returns its text (for excerpts in messages) and its tree.
///
/// The size is checked from the file's metadata before anything is read, and the read itself
/// stops one byte past the limit in case the file grows in between.
pub fn load_file(path: &Path, limits: &Limits) -> Result<(String, Node), LoadError> {
    let (text, parsed) = load_file_collecting(path, limits)?;
    let root = parsed.into_root().map_err(|source| LoadError::Yaml {
        path: path.to_owned(),
        source,
    })?;
    Ok((text, root))
}

/// [`load_file`], with the scalars whose value is wrong collected rather than fatal.
pub fn load_file_collecting(path: &Path, limits: &Limits) -> Result<(String, Parsed), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let too_large = |size| LoadError::TooLarge {
        path: path.to_owned(),
        size,
        max: limits.max_bytes,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > limits.max_bytes as u64 {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limits.max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    let yaml = |source| LoadError::Yaml {
        path: path.to_owned(),
        source,
    };
    let text =
        String::from_utf8(bytes).map_err(|e| yaml(utf8_error(e.as_bytes(), e.utf8_error())))?;
    let parsed = parse_str_collecting(&text, limits).map_err(yaml)?;
    Ok((text, parsed))
}

/// Parses one plan document from bytes, which must be UTF-8.
pub fn parse(src: &[u8], limits: &Limits) -> Result<Node, YamlError> {
    parse_collecting(src, limits)?.into_root()
}

/// [`parse`], with the scalars whose value is wrong collected rather than fatal.
pub fn parse_collecting(src: &[u8], limits: &Limits) -> Result<Parsed, YamlError> {
    if src.len() > limits.max_bytes {
        return Err(too_large(src.len(), limits));
    }
    let text = std::str::from_utf8(src).map_err(|e| utf8_error(src, e))?;
    parse_str_collecting(text, limits)
}

/// Parses one plan document from text.
pub fn parse_str(text: &str, limits: &Limits) -> Result<Node, YamlError> {
    parse_str_collecting(text, limits)?.into_root()
}

/// [`parse_str`], with the scalars whose value is wrong collected rather than fatal.
pub fn parse_str_collecting(text: &str, limits: &Limits) -> Result<Parsed, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(too_large(text.len(), limits));
    }
    // yaml-rust2 would make a byte-order mark part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Err(e) = prescan::check(text, limits) {
        // The pre-scan counts flow brackets only. The text up to the bracket that crossed the
        // limit is small and shallow enough to build, and the builder, which also counts block
        // levels, finds the node that really is one level too deep.
        if let Some(cut) = e.too_deep_at {
            if let Err(exact) = Builder::new(&text[..=cut], limits).run() {
                if exact.message == e.error.message {
                    return Err(exact);
                }
            }
        }
        return Err(e.error);
    }
    Builder::new(text, limits).run()
}

fn too_large(len: usize, limits: &Limits) -> YamlError {
    YamlError::new(
        1,
        1,
        format!(
            "the plan is {len} bytes; a plan may be at most {} bytes",
            limits.max_bytes
        ),
    )
}

fn utf8_error(src: &[u8], e: std::str::Utf8Error) -> YamlError {
    let good = &src[..e.valid_up_to()];
    let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
    let col = 1 + good[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    let byte = src[e.valid_up_to()];
    YamlError::new(
        line,
        col,
        format!("invalid UTF-8 (byte 0x{byte:02X}); a plan must be UTF-8 text"),
    )
}

// ---------------------------------------------------------------------------------------------
// The tree builder: yaml-rust2 events in, a Node tree out.

/// A finished node with what alias expansion needs to know before copying it.
#[derive(Clone)]
struct Built {
    node: Node,
    /// Nodes in this subtree (itself included).
    size: usize,
    /// Collection levels in this subtree: 0 for a scalar, 1 for a flat list.
    height: usize,
    /// Where it was written: the node's own position, except for an alias, whose node carries
    /// the anchor's.
    at: Mark,
    /// A plain, untagged `<<`: a merge key when it is in key position.
    merge_key: bool,
}

enum Entry {
    Pair(Node, Node),
    /// The value of a `<<` key, and where that value was written.
    Merge(Node, Mark),
}

/// How a key is compared with the other keys of its mapping.
#[derive(Clone, PartialEq, Eq, Hash)]
enum KeyId {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
    Merge,
}

impl KeyId {
    fn of(n: &Node) -> Option<KeyId> {
        Some(match &n.value {
            Value::Null => KeyId::Null,
            Value::Bool(b) => KeyId::Bool(*b),
            Value::Int(i) => KeyId::Int(*i),
            Value::Float(f) => KeyId::Float(f.to_bits()),
            Value::Str(s) => KeyId::Str(s.clone()),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }
}

enum Kind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The key waiting for its value, and whether it is a merge key.
        key: Option<(Node, bool)>,
        /// Every explicit key so far, with where it was written.
        seen: HashMap<KeyId, Mark>,
        /// Where the first key was written.
        first_key: Option<Mark>,
    },
}

struct Frame {
    kind: Kind,
    mark: Mark,
    anchor: usize,
    size: usize,
    height: usize,
}

struct Builder<'t> {
    /// Scalars whose value is wrong (a number too large, a tag that does not fit): collected,
    /// the tree built on with a null in their place, so validation reports every other problem
    /// too.
    value_errors: Vec<YamlError>,
    text: &'t str,
    limits: &'t Limits,
    stack: Vec<Frame>,
    /// Finished anchored nodes, by yaml-rust2's anchor id.
    anchors: HashMap<usize, Built>,
    nodes: usize,
    /// Whether anchors or aliases have cost nodes (for the budget message).
    aliases_used: bool,
    root: Option<Built>,
    /// A block mapping was opened too deep; report it at its first key, the next event.
    too_deep_pending: bool,
    /// The document is nothing but an empty scalar (`---` alone).
    empty_root: bool,
    documents: usize,
    cursor: CharCursor,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str, limits: &'t Limits) -> Self {
        Builder {
            value_errors: Vec::new(),
            text,
            limits,
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            aliases_used: false,
            root: None,
            too_deep_pending: false,
            empty_root: false,
            documents: 0,
            cursor: CharCursor::default(),
        }
    }

    fn run(mut self) -> Result<Parsed, YamlError> {
        let mut parser = Parser::new_from_str(self.text);
        loop {
            let (event, marker) = parser.next_token().map_err(|e| self.scan_error(&e))?;
            let mark = to_mark(&marker);
            if self.too_deep_pending {
                return Err(self.depth_error(mark));
            }
            match event {
                Event::StreamEnd => break,
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart => {
                    if self.documents == 1 {
                        return Err(YamlError::at(
                            mark,
                            "a plan is one YAML document, but a second one starts here",
                        ));
                    }
                    self.documents += 1;
                }
                Event::Scalar(value, style, anchor, tag) => {
                    self.charge(1, mark)?;
                    self.empty_root = self.stack.is_empty()
                        && value.is_empty()
                        && style == TScalarStyle::Plain
                        && anchor == 0
                        && tag.is_none();
                    let built = self.scalar(value, style, tag.as_ref(), mark)?;
                    self.finish_node(built, anchor)?;
                }
                Event::Alias(id) => {
                    let built = self.alias(id, &marker)?;
                    self.finish_node(built, 0)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    let mark = self.block_seq_mark(&marker);
                    self.open(Kind::Seq(Vec::new()), mark, anchor, tag)?;
                }
                Event::MappingStart(anchor, tag) => {
                    // A block mapping's start event points at its first key's `:`.
                    if self.stack.len() >= self.limits.max_depth
                        && self.char_at(&marker) != Some('{')
                    {
                        self.too_deep_pending = true;
                        continue;
                    }
                    let kind = Kind::Map {
                        entries: Vec::new(),
                        key: None,
                        seen: HashMap::new(),
                        first_key: None,
                    };
                    self.open(kind, mark, anchor, tag)?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let frame = self
                        .stack
                        .pop()
                        .expect("yaml-rust2 balances collection events");
                    let anchor = frame.anchor;
                    let built = self.close(frame)?;
                    self.finish_node(built, anchor)?;
                }
            }
        }
        match self.root {
            Some(root) if !self.empty_root => Ok(Parsed {
                root: root.node,
                value_errors: self.value_errors,
            }),
            _ => Err(YamlError::new(1, 1, "the plan is empty")),
        }
    }

    /// Counts `n` more nodes against the budget, failing at `mark` if it is exceeded.
    fn charge(&mut self, n: usize, mark: Mark) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes <= self.limits.max_nodes {
            return Ok(());
        }
        let message = if self.aliases_used {
            format!(
                "the plan expands to more than {} nodes (YAML aliases?)",
                self.limits.max_nodes
            )
        } else {
            format!("the plan has more than {} nodes", self.limits.max_nodes)
        };
        Err(YamlError::at(mark, message))
    }

    fn open(
        &mut self,
        kind: Kind,
        mark: Mark,
        anchor: usize,
        tag: Option<Tag>,
    ) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.depth_error(mark));
        }
        self.charge(1, mark)?;
        if let Some(tag) = tag.as_ref().filter(|t| !is_non_specific(t)) {
            let want = match kind {
                Kind::Seq(_) => "seq",
                Kind::Map { .. } => "map",
            };
            if tag_name(tag) != format!("{CORE}{want}") {
                let what = match kind {
                    Kind::Seq(_) => "a list",
                    Kind::Map { .. } => "a mapping",
                };
                return Err(self.error(
                    mark,
                    format!("tag {} cannot be used on {what}", show_tag(tag)),
                ));
            }
        }
        self.stack.push(Frame {
            kind,
            mark,
            anchor,
            size: 1,
            height: 1,
        });
        Ok(())
    }

    fn depth_error(&self, mark: Mark) -> YamlError {
        YamlError::at(
            mark,
            format!(
                "the plan nests deeper than {} levels",
                self.limits.max_depth
            ),
        )
    }

    /// Stores an anchored node, then hands the node to its parent (or makes it the root).
    fn finish_node(&mut self, built: Built, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            // The copy kept for later aliases is nodes too.
            self.aliases_used = true;
            self.charge(built.size, built.node.mark)?;
            self.anchors.insert(anchor, built.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(built);
            return Ok(());
        };
        parent.size = parent.size.saturating_add(built.size);
        parent.height = parent.height.max(built.height + 1);
        match &mut parent.kind {
            Kind::Seq(items) => items.push(built.node),
            Kind::Map { entries, key, .. } => match key.take() {
                Some((_, true)) => entries.push(Entry::Merge(built.node, built.at)),
                Some((k, false)) => entries.push(Entry::Pair(k, built.node)),
                None => return self.accept_key(built),
            },
        }
        Ok(())
    }

    fn accept_key(&mut self, built: Built) -> Result<(), YamlError> {
        let path = self.path_here();
        let Some(Frame {
            kind:
                Kind::Map {
                    key,
                    seen,
                    first_key,
                    ..
                },
            ..
        }) = self.stack.last_mut()
        else {
            unreachable!("accept_key is only called for a mapping");
        };
        let node = built.node;
        let id = if built.merge_key {
            KeyId::Merge
        } else {
            match KeyId::of(&node) {
                Some(id) => id,
                None => {
                    let message = format!(
                        "a mapping key must be a string or another scalar, not {}",
                        node.type_name()
                    );
                    return Err(YamlError::at(built.at, with_path(&path, message)));
                }
            }
        };
        if let Some(first) = seen.get(&id) {
            let message = format!(
                "duplicate key {}; it is already defined on line {}",
                show_key(&node, built.merge_key),
                first.line
            );
            return Err(YamlError::at(built.at, with_path(&path, message)));
        }
        seen.insert(id, built.at);
        first_key.get_or_insert(built.at);
        *key = Some((node, built.merge_key));
        Ok(())
    }

    fn close(&mut self, frame: Frame) -> Result<Built, YamlError> {
        let Frame {
            kind,
            mut mark,
            size,
            height,
            ..
        } = frame;
        let value = match kind {
            Kind::Seq(items) => Value::Seq(items),
            Kind::Map {
                entries,
                mut seen,
                first_key,
                ..
            } => {
                // A block mapping's start event comes after its first key; use the key's position.
                if let Some(first) = first_key {
                    mark = mark.min(first);
                }
                Value::Map(self.merge(entries, &mut seen)?)
            }
        };
        Ok(Built {
            node: Node::new(value, mark),
            size,
            height,
            at: mark,
            merge_key: false,
        })
    }

    /// Resolves `<<` entries: the merged mappings' keys are added where the `<<` was, unless the
    /// mapping defines them itself; among merged mappings the first to define a key wins.
    fn merge(
        &self,
        entries: Vec<Entry>,
        seen: &mut HashMap<KeyId, Mark>,
    ) -> Result<Vec<(Node, Node)>, YamlError> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let value = match entry {
                Entry::Pair(k, v) => {
                    out.push((k, v));
                    continue;
                }
                Entry::Merge(value, at) => (value, at),
            };
            let (value, at) = value;
            let sources = match value.value {
                Value::Map(entries) => vec![entries],
                Value::Seq(items) => {
                    let mut maps = Vec::with_capacity(items.len());
                    for item in items {
                        match item.value {
                            Value::Map(entries) => maps.push(entries),
                            _ => return Err(self.merge_error(&item, item.mark)),
                        }
                    }
                    maps
                }
                _ => return Err(self.merge_error(&value, at)),
            };
            for (k, v) in sources.into_iter().flatten() {
                // Merged mappings were built by this builder, so their keys are scalars.
                if let Some(id) = KeyId::of(&k) {
                    if let std::collections::hash_map::Entry::Vacant(slot) = seen.entry(id) {
                        slot.insert(k.mark);
                        out.push((k, v));
                    }
                }
            }
        }
        Ok(out)
    }

    fn merge_error(&self, found: &Node, at: Mark) -> YamlError {
        YamlError::at(
            at,
            format!(
                "a merge key (<<) takes a mapping or a list of mappings, not {}",
                found.type_name()
            ),
        )
    }

    fn alias(&mut self, id: usize, marker: &Marker) -> Result<Built, YamlError> {
        let mark = to_mark(marker);
        let Some(anchored) = self.anchors.get(&id) else {
            let name = self.word_at(marker);
            return Err(self.error(
                mark,
                format!("alias {name} refers to a node that contains it"),
            ));
        };
        let (size, height) = (anchored.size, anchored.height);
        if self.stack.len() + height > self.limits.max_depth {
            return Err(self.depth_error(mark));
        }
        self.aliases_used = true;
        // Count the copy before making it.
        self.charge(size, mark)?;
        let mut built = self.anchors[&id].clone();
        built.merge_key = false;
        built.at = mark;
        Ok(built)
    }

    fn scalar(
        &mut self,
        raw: String,
        style: TScalarStyle,
        tag: Option<&Tag>,
        mark: Mark,
    ) -> Result<Built, YamlError> {
        let plain = style == TScalarStyle::Plain;
        let merge_key = plain && tag.is_none() && raw == "<<";
        let value = match tag {
            Some(tag) => resolve_tagged(raw, tag),
            None if plain => resolve_plain(raw),
            None => Ok(Value::Str(raw)),
        }
        .unwrap_or_else(|message| {
            let e = self.error(mark, message);
            self.value_errors.push(e);
            Value::Null
        });
        Ok(Built {
            node: Node::new(value, mark),
            size: 1,
            height: 0,
            at: mark,
            merge_key,
        })
    }

    /// An error at `mark`, its message prefixed with the YAML path of the node being built.
    fn error(&self, mark: Mark, message: String) -> YamlError {
        YamlError::at(mark, with_path(&self.path_here(), message))
    }

    /// The YAML path of the node about to be finished, from the open collections.
    fn path_here(&self) -> YamlPath {
        let mut path = YamlPath::default();
        for frame in &self.stack {
            match &frame.kind {
                Kind::Seq(items) => path = path.index(items.len()),
                Kind::Map {
                    key: Some((k, _)), ..
                } => {
                    path = path.key(&k.scalar_text().unwrap_or_default());
                }
                Kind::Map { key: None, .. } => {}
            }
        }
        path
    }

    fn scan_error(&mut self, e: &ScanError) -> YamlError {
        let mark = to_mark(e.marker());
        let message = match e.info() {
            "while parsing node, found unknown anchor" => {
                format!("unknown anchor in alias {}", self.word_at(e.marker()))
            }
            info => info.to_owned(),
        };
        YamlError::at(mark, message)
    }

    /// The start event of a block sequence written at its parent's indentation (`key:\n- a`)
    /// points at its first item; move it back to the `-`.
    fn block_seq_mark(&mut self, marker: &Marker) -> Mark {
        let mark = to_mark(marker);
        let Some(at) = self.cursor.byte_of(self.text, marker.index()) else {
            return mark;
        };
        if matches!(self.text[at..].chars().next(), Some('-' | '[')) {
            return mark;
        }
        let before = &self.text[..at];
        let trimmed = before.trim_end_matches([' ', '\t']);
        if !trimmed.ends_with('-') || before.len() == trimmed.len() {
            return mark;
        }
        let back = before[trimmed.len() - 1..].chars().count();
        Mark::new(mark.line, mark.col.saturating_sub(back).max(1))
    }

    fn char_at(&mut self, marker: &Marker) -> Option<char> {
        let at = self.cursor.byte_of(self.text, marker.index())?;
        self.text[at..].chars().next()
    }

    /// The anchor or alias written at `marker`, like `*defaults`, for messages.
    fn word_at(&mut self, marker: &Marker) -> String {
        let Some(at) = self.cursor.byte_of(self.text, marker.index()) else {
            return "here".to_owned();
        };
        let word: String = self.text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
            .take(80)
            .collect();
        if word.is_empty() {
            "here".to_owned()
        } else {
            word
        }
    }
}

/// Converts yaml-rust2's character indexes to byte offsets. Events arrive nearly in source order,
/// so moving from the last position keeps this linear overall.
#[derive(Default)]
struct CharCursor {
    chars: usize,
    bytes: usize,
}

impl CharCursor {
    fn byte_of(&mut self, text: &str, index: usize) -> Option<usize> {
        while self.chars < index {
            let c = text[self.bytes..].chars().next()?;
            self.bytes += c.len_utf8();
            self.chars += 1;
        }
        while self.chars > index {
            let c = text[..self.bytes].chars().next_back()?;
            self.bytes -= c.len_utf8();
            self.chars -= 1;
        }
        Some(self.bytes)
    }
}

fn to_mark(m: &Marker) -> Mark {
    // yaml-rust2 lines are 1-based, columns 0-based.
    Mark::new(m.line(), m.col() + 1)
}

fn with_path(path: &YamlPath, message: String) -> String {
    if path.is_root() {
        message
    } else {
        format!("{path}: {message}")
    }
}

fn show_key(key: &Node, merge: bool) -> String {
    if merge {
        return "<<".to_owned();
    }
    match &key.value {
        Value::Str(s) => format!("{s:?}"),
        _ => key.scalar_text().unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars: the YAML 1.2 core schema.

const CORE: &str = "tag:yaml.org,2002:";

/// The full name of a tag: `tag:yaml.org,2002:str`, `!local`.
fn tag_name(tag: &Tag) -> String {
    format!("{}{}", tag.handle, tag.suffix)
}

/// A tag as a user would write it: `!!str`, `!custom`.
fn show_tag(tag: &Tag) -> String {
    let name = tag_name(tag);
    if let Some(core) = name.strip_prefix(CORE) {
        format!("!!{core}")
    } else if name.starts_with('!') {
        name
    } else {
        format!("!<{name}>")
    }
}

/// `!`, the non-specific tag: a scalar is a string, a collection what it is.
fn is_non_specific(tag: &Tag) -> bool {
    tag.handle.is_empty() && tag.suffix == "!"
}

fn resolve_tagged(raw: String, tag: &Tag) -> Result<Value, String> {
    if is_non_specific(tag) {
        return Ok(Value::Str(raw));
    }
    let name = tag_name(tag);
    let Some(core) = name.strip_prefix(CORE) else {
        return Err(format!("unknown tag {}", show_tag(tag)));
    };
    let invalid = |what: &str| format!("{raw:?} is not a valid {what} (tag {})", show_tag(tag));
    match core {
        "str" => Ok(Value::Str(raw)),
        "null" => match resolve_plain(raw.clone()) {
            Ok(Value::Null) => Ok(Value::Null),
            _ => Err(invalid("null")),
        },
        "bool" => match resolve_plain(raw.clone()) {
            Ok(v @ Value::Bool(_)) => Ok(v),
            _ => Err(invalid("boolean")),
        },
        "int" => match resolve_plain(raw.clone()) {
            Ok(v @ Value::Int(_)) => Ok(v),
            Err(e) => Err(e),
            _ => Err(invalid("integer")),
        },
        "float" => match resolve_plain(raw.clone()) {
            Ok(v @ Value::Float(_)) => Ok(v),
            Ok(Value::Int(i)) => Ok(Value::Float(i as f64)),
            // An integer too large for i64 is still a fine float.
            _ if is_decimal_int(&raw) => {
                raw.parse().map(Value::Float).map_err(|_| invalid("number"))
            }
            _ => Err(invalid("number")),
        },
        "seq" | "map" => Err(format!("tag {} cannot be used on a scalar", show_tag(tag))),
        _ => Err(format!("unsupported tag {}", show_tag(tag))),
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn resolve_plain(raw: String) -> Result<Value, String> {
    let s = raw.as_str();
    let value = match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        _ if is_decimal_int(s) => Value::Int(s.parse().map_err(|_| out_of_range(s))?),
        _ => {
            if let Some(digits) = s.strip_prefix("0x").filter(|d| is_digits(d, 16)) {
                Value::Int(i64::from_str_radix(digits, 16).map_err(|_| out_of_range(s))?)
            } else if let Some(digits) = s.strip_prefix("0o").filter(|d| is_digits(d, 8)) {
                Value::Int(i64::from_str_radix(digits, 8).map_err(|_| out_of_range(s))?)
            } else if is_float(s) {
                match s.parse::<f64>() {
                    Ok(f) => Value::Float(f),
                    Err(_) => Value::Str(raw),
                }
            } else {
                Value::Str(raw)
            }
        }
    };
    Ok(value)
}

fn out_of_range(s: &str) -> String {
    format!("the number {s} does not fit in a 64-bit integer")
}

fn is_digits(s: &str, radix: u32) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_digit(radix))
}

/// `[-+]?[0-9]+`
fn is_decimal_int(s: &str) -> bool {
    is_digits(s.strip_prefix(['-', '+']).unwrap_or(s), 10)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => is_digits(frac, 10),
        Some((int, frac)) => is_digits(int, 10) && (frac.is_empty() || is_digits(frac, 10)),
        None => is_digits(mantissa, 10),
    };
    let exponent_ok =
        exponent.is_none_or(|e| is_digits(e.strip_prefix(['-', '+']).unwrap_or(e), 10));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests;
