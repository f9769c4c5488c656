//! The promotion graph: each environment's upstream (`after:` or the previous entry), with
//! unknown names, self-references and cycles refused.

use serde_saphyr::Spanned;

use crate::manifest::error::ManifestError;

/// One environment as declared: its name and the `after:` it wrote, if any.
pub(super) struct Declared {
    pub(super) name: String,
    pub(super) after: Option<Spanned<String>>,
}

/// The upstream of each declared environment (same order): `after` if written, otherwise
/// the previous entry, none for the first. Refuses unknown names, self-references and cycles.
pub(super) fn resolve_upstreams(
    file: &str,
    declared: &[Declared],
) -> Result<Vec<Option<usize>>, ManifestError> {
    let mut upstreams = Vec::with_capacity(declared.len());
    for (index, environment) in declared.iter().enumerate() {
        let upstream = match &environment.after {
            None => index.checked_sub(1),
            Some(after) => Some(resolve_after(file, declared, environment, after)?),
        };
        upstreams.push(upstream);
    }
    if let Some(cycle) = find_cycle(&upstreams) {
        return Err(cycle_error(file, declared, &upstreams, &cycle));
    }
    Ok(upstreams)
}

fn resolve_after(
    file: &str,
    declared: &[Declared],
    environment: &Declared,
    after: &Spanned<String>,
) -> Result<usize, ManifestError> {
    let field = format!("environments.{}.after", environment.name);
    if after.value == environment.name {
        return Err(ManifestError::new(
            file,
            field,
            format!(
                "{} cannot come after itself: name its upstream environment or remove after",
                environment.name
            ),
        )
        .at(after.referenced));
    }
    declared
        .iter()
        .position(|other| other.name == after.value)
        .ok_or_else(|| {
            let known: Vec<&str> = declared.iter().map(|other| other.name.as_str()).collect();
            ManifestError::new(
                file,
                field,
                format!(
                    "unknown environment {:?} (known: {})",
                    after.value,
                    known.join(", ")
                ),
            )
            .at(after.referenced)
        })
}

/// The members of the first cycle found, in upstream order (each one's upstream is next).
fn find_cycle(upstreams: &[Option<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Visit {
        New,
        OnPath,
        Done,
    }
    let mut visits = vec![Visit::New; upstreams.len()];
    for start in 0..upstreams.len() {
        let mut path = Vec::new();
        let mut current = Some(start);
        while let Some(index) = current {
            match visits[index] {
                Visit::Done => break,
                Visit::OnPath => {
                    let first = path.iter().position(|member| *member == index).unwrap_or(0);
                    return Some(path.split_off(first));
                }
                Visit::New => {
                    visits[index] = Visit::OnPath;
                    path.push(index);
                    current = upstreams[index];
                }
            }
        }
        for member in path {
            visits[member] = Visit::Done;
        }
    }
    None
}

/// Names the cycle in promotion order, starting and ending at the first member (in file
/// order) that wrote `after:`, and points at that `after:`.
fn cycle_error(
    file: &str,
    declared: &[Declared],
    upstreams: &[Option<usize>],
    cycle: &[usize],
) -> ManifestError {
    let culprit = cycle
        .iter()
        .copied()
        .filter(|member| declared[*member].after.is_some())
        .min()
        .or_else(|| cycle.iter().copied().min())
        .unwrap_or(0);
    let mut names = vec![declared[culprit].name.as_str()];
    let mut current = upstreams[culprit];
    while let Some(member) =
        current.filter(|member| *member != culprit && names.len() <= cycle.len())
    {
        names.push(declared[member].name.as_str());
        current = upstreams[member];
    }
    names.push(declared[culprit].name.as_str());
    names.reverse();
    let error = ManifestError::new(
        file,
        format!("environments.{}.after", declared[culprit].name),
        format!(
            "the promotion path has a cycle: {}: every path must start at an environment without an upstream",
            names.join(" -> ")
        ),
    );
    match &declared[culprit].after {
        Some(after) => error.at(after.referenced),
        None => error,
    }
}
