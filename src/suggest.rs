//! "Did you mean": the known name closest to a misspelt one.

/// The candidate closest to `name` by edit distance, when close enough to be a typo.
pub(crate) fn closest<'c>(name: &str, candidates: &'c [String]) -> Option<&'c str> {
    let name = name.to_lowercase();
    candidates
        .iter()
        .map(|candidate| (edit_distance(&name, candidate), candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_suggestions() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("max_paralel_tasks", "max_parallel_tasks"), 1);
        let keys = ["daemon".to_owned()];
        assert_eq!(closest("deamon", &keys), Some("daemon"));
        assert_eq!(closest("agent", &keys), None);
        assert_eq!(closest("LOG", &["log".to_owned()]), Some("log"));
    }
}
