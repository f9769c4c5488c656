//! The README and every page of `docs/` link only to files that exist, so moving or
//! renaming a page cannot leave a dead link behind.

use std::fs;
use std::path::{Path, PathBuf};

/// The targets of the Markdown links `[text](target)` in `text`, without `#anchors`.
fn link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or_default().to_owned())
        .filter(|target| !target.is_empty() && !target.contains("://"))
        .collect()
}

fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[test]
fn every_relative_link_of_the_readme_and_docs_names_an_existing_file() {
    let mut dead = Vec::new();
    let pages = pages();
    assert!(pages.len() > 10, "docs/ has its pages: {pages:?}");
    for page in &pages {
        let text = fs::read_to_string(page).expect("page");
        let folder = page.parent().expect("folder");
        for target in link_targets(&text) {
            if !folder.join(&target).exists() {
                dead.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(dead.is_empty(), "dead links: {dead:#?}");
}

#[test]
fn the_readme_links_every_page_of_docs() {
    let pages = pages();
    let readme = fs::read_to_string(&pages[0]).expect("README.md");
    let linked = link_targets(&readme);
    for page in &pages[1..] {
        let name = format!("docs/{}", page.file_name().expect("name").to_string_lossy());
        assert!(linked.contains(&name), "README.md does not link {name}");
    }
}

#[test]
fn a_link_target_is_read_without_its_anchor() {
    assert_eq!(
        link_targets("see [a](docs/a.md#x), [b](https://x.org) and [c](c.md)"),
        ["docs/a.md", "c.md"]
    );
}
