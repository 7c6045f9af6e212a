//! The crate's layers, and the test that keeps them one-way (docs/ARCHITECTURE.md, "Layers").
//!
//! A module may use modules of lower layers only; modules of one layer don't use each other,
//! except in the base layer. Inside a module, its files don't use each other in a circle (a
//! module's `mod.rs` is its front door and may be used by its files and use them). The test reads
//! the sources, so it fails on the `use` that breaks a rule, naming the file.

/// Lowest first.
pub const LAYERS: &[&[&str]] = &[
    &[
        "ids",
        "timestamp",
        "retry",
        "json_path",
        "resources",
        "config",
        "aws",
        "request_count",
        "telemetry",
        "metrics",
        "secrets",
        "queue_batch",
        "queue_send",
        "url_policy",
        "layers",
    ],
    &["store"],
    &["directory"],
    &["connector"],
    // The SCIM protocol and resource model: the ingress, and what the outbound connector sends
    // to SCIM targets.
    &["scim"],
    &["outbound", "import", "console"],
    &["admin_api"],
];

/// The crate's directory, for tests that read its files: from the environment cargo gives the
/// running test, not baked in at build time (the build cache is shared between checkouts, and a
/// binary found fresh may have been compiled in the other one).
#[cfg(test)]
pub(crate) fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use super::LAYERS;

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    /// Every `.rs` file under `dir`, as (path relative to `src`, source without test modules and
    /// comments).
    fn sources(src: &Path) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read file");
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    let code: String = code
                        .lines()
                        .map(|l| l.split("//").next().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join("\n");
                    out.push((path.strip_prefix(src).expect("under src").to_path_buf(), code));
                }
            }
        }
        out.sort();
        out
    }

    /// The identifiers that follow `prefix` (`crate::`, `super::`), groups (`{a, b}`) included.
    fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for (i, _) in code.match_indices(prefix) {
            // Not the tail of a longer path (`super::super::`, `x::crate::`).
            if code[..i].ends_with("::") {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default().split(',').collect(),
                None => vec![rest],
            };
            for name in names {
                let ident: String = name
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !ident.is_empty() && !["super", "self", "crate"].contains(&ident.as_str()) {
                    found.insert(ident);
                }
            }
        }
        found
    }

    /// The top-level module a file belongs to (`directory/users.rs` -> `directory`).
    fn module_of(path: &Path) -> String {
        let first = path.components().next().expect("a component");
        let first = first.as_os_str().to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    }

    fn src() -> PathBuf {
        super::crate_dir().join("src")
    }

    #[test]
    fn every_module_has_a_layer() {
        for (path, _) in sources(&src()) {
            let module = module_of(&path);
            if module == "lib" {
                continue;
            }
            assert!(
                layer(&module).is_some(),
                "{} has no layer in LAYERS",
                path.display()
            );
        }
    }

    #[test]
    fn modules_use_only_lower_layers() {
        let mut broken = Vec::new();
        for (path, code) in sources(&src()) {
            let module = module_of(&path);
            let Some(mine) = layer(&module) else { continue };
            for target in targets(&code, "crate::") {
                let Some(theirs) = layer(&target) else { continue };
                let sideways_in_base = mine == 0 && theirs == 0;
                if target != module && theirs >= mine && !sideways_in_base {
                    broken.push(format!("{} uses crate::{target}", path.display()));
                }
            }
        }
        assert!(
            broken.is_empty(),
            "uses that go up or sideways:\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn files_of_a_module_use_each_other_in_no_circle() {
        // Edges between sibling files of one directory (its mod.rs left out).
        let files = sources(&src());
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let existing: BTreeSet<String> = files
            .iter()
            .map(|(p, _)| p.with_extension("").to_string_lossy().to_string())
            .collect();
        for (path, code) in &files {
            let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
                continue;
            };
            if path.file_name().is_some_and(|n| n == "mod.rs") {
                continue;
            }
            let me = path.with_extension("").to_string_lossy().to_string();
            let dir_text = dir.to_string_lossy().to_string();
            let mut edges = BTreeSet::new();
            for target in targets(code, "super::") {
                edges.insert(format!("{dir_text}/{target}"));
            }
            for target in targets(code, &format!("crate::{}::", dir_text.replace('/', "::"))) {
                edges.insert(format!("{dir_text}/{target}"));
            }
            edges.retain(|t| existing.contains(t) && *t != me);
            graph.insert(me, edges);
        }
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|n| n == node) {
                let mut circle = path[at..].to_vec();
                circle.push(node.to_string());
                return Some(circle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_string());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(circle) = visit(next, graph, path, done) {
                    return Some(circle);
                }
            }
            path.pop();
            done.insert(node.to_string());
            None
        }
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            if let Some(circle) = visit(node, &graph, &mut Vec::new(), &mut done) {
                panic!("files that use each other in a circle: {}", circle.join(" -> "));
            }
        }
    }

    #[test]
    fn the_checks_see_what_they_must() {
        let code = "use crate::{store::x, directory};\nuse super::list::MAX;\nsuper::super::a";
        assert_eq!(
            targets(code, "crate::"),
            ["directory", "store"].map(String::from).into()
        );
        assert_eq!(targets(code, "super::"), ["list"].map(String::from).into());
    }
}
