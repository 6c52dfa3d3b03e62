//! `data:` feeds: CSV files read at validation, so a missing file, an empty file or a ragged row
//! stops the plan before any request is sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::plan::model::{Feed, FeedOrder, Rows, SETUP, TEARDOWN};
use crate::plan::yaml::Node;
use crate::suggest;

use super::scope::BUILTINS;
use super::tree::Cx;
use super::tree::{hint_or_list, is_var_name, name_of, Fields, P};

/// A CSV bigger than this is almost certainly not test data.
pub(crate) const MAX_CSV_BYTES: u64 = 256 * 1024 * 1024;

const ORDERS: [&str; 3] = ["sequential", "random", "unique"];

pub(crate) fn feeds(cx: &mut Cx, node: &Node, path: &P, dir: &Path) -> Vec<Feed> {
    let mut out = Vec::new();
    let Some(map) = Fields::of(cx, node, path, "data feeds by name") else {
        return out;
    };
    for (name, knode, v) in &map.entries {
        let p = path.key(name);
        if !is_var_name(name) {
            cx.error(
                knode,
                &p,
                format!("invalid feed name \"{name}\"; templates read it as {{{{{name}.column}}}}, so use letters, digits and underscores"),
            );
            continue;
        }
        if *name == "vars" || BUILTINS.contains(name) {
            cx.error(
                knode,
                &p,
                format!("\"{name}\" is a built-in template name; call the feed something else"),
            );
            continue;
        }
        if *name == SETUP || *name == TEARDOWN {
            cx.error(
                knode,
                &p,
                format!(
                    "\"{name}\" is reserved: {{{{setup.NAME}}}} reads what the plan's \
                     once-per-test setup captured; call the feed something else"
                ),
            );
            continue;
        }
        if let Some(feed) = feed(cx, name, v, &p, dir) {
            out.push(feed);
        }
    }
    out
}

fn feed(cx: &mut Cx, name: &str, node: &Node, path: &P, dir: &Path) -> Option<Feed> {
    let f = Fields::of(
        cx,
        node,
        path,
        "a feed such as { csv: users.csv, order: sequential }",
    )?;
    f.only(cx, &["csv", "order"]);
    let order = match f.get("order") {
        None => Some(FeedOrder::Sequential),
        Some(o) => order_of(cx, o, &path.key("order")),
    };
    let csv_node = f.req(cx, "csv")?;
    let cp = path.key("csv");
    let rel = name_of(cx, csv_node, &cp)?;
    let file = dir.join(rel);
    let (columns, rows) = match read_csv(&file, rel) {
        Ok(x) => x,
        Err(msg) => {
            cx.error(csv_node, &cp, msg);
            return None;
        }
    };
    Some(Feed {
        name: name.to_string(),
        path: file,
        order: order?,
        columns,
        rows: Arc::new(rows),
    })
}

/// `order:` of a feed (or of what setup captured): sequential, random or unique.
pub(crate) fn order_of(cx: &mut Cx, o: &Node, op: &P) -> Option<FeedOrder> {
    match name_of(cx, o, op)? {
        "sequential" => Some(FeedOrder::Sequential),
        "random" => Some(FeedOrder::Random),
        "unique" => Some(FeedOrder::Unique),
        other => {
            cx.error(
                o,
                op,
                format!(
                    "unknown order \"{other}\"{}",
                    hint_or_list(suggest::hint(other, ORDERS), "sequential, random or unique")
                ),
            );
            None
        }
    }
}

/// Reads a CSV with a header row. Every problem is a message naming the file as the plan wrote it.
pub(crate) fn read_csv(file: &PathBuf, shown: &str) -> Result<(Vec<String>, Rows), String> {
    let meta =
        std::fs::metadata(file).map_err(|e| format!("cannot read {shown}: {}", io_reason(&e)))?;
    if meta.is_dir() {
        return Err(format!("{shown} is a directory, not a CSV file"));
    }
    // A device or a pipe (`/dev/zero`, `/dev/stdin`) has no size to check and may never end.
    if !meta.is_file() {
        return Err(format!(
            "{shown} is not a regular file (a device or a pipe); copy the data into a file"
        ));
    }
    if meta.len() > MAX_CSV_BYTES {
        return Err(format!(
            "{shown} is {} MB; data files are limited to {} MB",
            meta.len() / (1024 * 1024),
            MAX_CSV_BYTES / (1024 * 1024)
        ));
    }
    // Bounded even if the file grows between the size check and the read.
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| {
            std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_CSV_BYTES + 1), &mut bytes)
        })
        .map_err(|e| format!("cannot read {shown}: {}", io_reason(&e)))?;
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(format!(
            "{shown} grew past {} MB while it was read",
            MAX_CSV_BYTES / (1024 * 1024)
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!(
            "{shown} is empty; a data file needs a header row and at least one row"
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| format!("{shown}: {}", csv_reason(&e)))?
        .clone();
    let columns: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(format!(
                "{shown}: column {} of the header has no name",
                i + 1
            ));
        }
        if columns[..i].contains(c) {
            return Err(format!(
                "{shown}: column \"{c}\" appears twice in the header"
            ));
        }
    }
    // One record buffer reused for every row, the cells into one buffer: a ragged row at the
    // end of a large file is found without a per-cell allocation on the way.
    let mut rows = Rows::new(columns.len());
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(format!("{shown}: {}", csv_reason(&e))),
        }
        if rows.push(record.iter()).is_none() {
            return Err(format!("{shown} has more than 4 GiB of cells"));
        }
    }
    if rows.is_empty() {
        return Err(format!("{shown} has a header but no rows"));
    }
    Ok((columns, rows))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no such file (paths are relative to the plan file)".to_string()
        }
        _ => e.to_string(),
    }
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let line = pos.as_ref().map(|p| p.line()).unwrap_or(0);
            format!("line {line} has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map(|p| p.line()).unwrap_or(0);
            format!("line {line} is not valid UTF-8")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn reads_header_and_rows() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "u.csv",
            b"\xEF\xBB\xBFemail,password\na@x,1\nb@x,2\n",
        );
        let (cols, rows) = read_csv(&p, "u.csv").unwrap();
        assert_eq!(cols, ["email", "password"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.cell(1, 0), Some("b@x"));
        assert_eq!(rows.cell(1, 1), Some("2"));
        assert_eq!(rows.cell(2, 0), None);
    }

    #[test]
    fn broken_files_say_why() {
        let d = tempfile::tempdir().unwrap();
        let ragged = write(d.path(), "r.csv", b"a,b\n1,2\n3\n");
        assert!(read_csv(&ragged, "r.csv")
            .unwrap_err()
            .contains("line 3 has 1 fields but the header has 2"));
        let empty = write(d.path(), "e.csv", b"\n");
        assert!(read_csv(&empty, "e.csv").unwrap_err().contains("is empty"));
        let header_only = write(d.path(), "h.csv", b"a,b\n");
        assert!(read_csv(&header_only, "h.csv")
            .unwrap_err()
            .contains("no rows"));
        let dup = write(d.path(), "d.csv", b"a,a\n1,2\n");
        assert!(read_csv(&dup, "d.csv")
            .unwrap_err()
            .contains("appears twice"));
        let missing = d.path().join("nope.csv");
        assert!(read_csv(&missing, "nope.csv")
            .unwrap_err()
            .contains("no such file"));
    }
}
