//! Command policy: `allowed_commands`, `allow_shell` and `denied_patterns`.
//!
//! Policy is a guard rail against honest mistakes (a generated `rm -rf`, a
//! stray pipeline), not a security boundary: anything that is allowed to run
//! can still do whatever the sandbox lets it. The sandbox is the boundary.

use regex::Regex;

use crate::profile::{regex_error, Profile};

/// Programs that interpret a command string when given `-c`.
const SHELLS: &[&str] = &[
    "sh", "ash", "bash", "rbash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "oksh", "yash",
    "posh", "hush", "fish", "csh", "tcsh",
];

/// Multi-call binaries whose first argument names the applet (`busybox sh -c`).
const MULTI_CALL: &[&str] = &["busybox", "toybox"];

/// Characters that only mean something when a shell reads the argument.
const SHELL_METACHARACTERS: &[char] = &[';', '|', '&', '$', '>', '<', '`', '(', ')'];

/// Longest excerpt of matched text quoted in a denial.
const MAX_EXCERPT_CHARS: usize = 80;

/// Why a command was refused: the rule and what in the command tripped it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("denied by {rule}: {detail}")]
pub struct Denial {
    /// The rule as written in the profile, e.g. `denied_patterns[1] "rm\\s+-rf"`.
    pub rule: String,
    pub detail: String,
}

impl Denial {
    fn new(rule: impl Into<String>, detail: impl Into<String>) -> Denial {
        Denial {
            rule: rule.into(),
            detail: detail.into(),
        }
    }
}

/// Check a launch against the profile's policy. `argv` is what would be
/// executed; `code` is a Python job's source, which the patterns also see.
pub fn check(profile: &Profile, argv: &[String], code: Option<&str>) -> Result<(), Denial> {
    let Some(program) = argv.first() else {
        return Err(Denial::new("policy", "empty command"));
    };
    check_allowed_commands(&profile.allowed_commands, program)?;
    if !profile.allow_shell {
        check_no_shell(argv)?;
    }
    check_denied_patterns(&profile.denied_patterns, argv, code)
}

fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

fn check_allowed_commands(allowed: &[String], program: &str) -> Result<(), Denial> {
    if allowed.is_empty() {
        return Ok(());
    }
    let base = basename(program);
    // An entry with a '/' pins the exact path; a bare name allows that
    // program wherever it lives, as PATH lookup would find it.
    let ok = allowed.iter().any(|entry| {
        if entry.contains('/') {
            entry == program
        } else {
            entry == base
        }
    });
    if ok {
        Ok(())
    } else {
        Err(Denial::new(
            "allowed_commands",
            format!("{program:?} is not in [{}]", allowed.join(", ")),
        ))
    }
}

fn check_no_shell(argv: &[String]) -> Result<(), Denial> {
    if let Some(invocation) = shell_invocation(argv) {
        return Err(Denial::new(
            "allow_shell = false",
            format!("{invocation:?} needs a shell"),
        ));
    }
    for (i, arg) in argv.iter().enumerate() {
        if let Some(c) = arg.chars().find(|c| SHELL_METACHARACTERS.contains(c)) {
            let what = if i == 0 {
                "the program".to_owned()
            } else {
                format!("argument {i}")
            };
            return Err(Denial::new(
                "allow_shell = false",
                format!(
                    "{what} {:?} contains '{c}', which only a shell interprets",
                    excerpt(arg)
                ),
            ));
        }
    }
    Ok(())
}

/// `Some("sh -c")` when `argv` asks a shell to interpret a command string.
pub fn shell_invocation(argv: &[String]) -> Option<String> {
    let program = argv.first()?;
    let (shell_at, prefix) = if MULTI_CALL.contains(&basename(program)) {
        (1, format!("{program} "))
    } else {
        (0, String::new())
    };
    let shell = argv.get(shell_at)?;
    if !SHELLS.contains(&basename(shell)) {
        return None;
    }
    let mut args = argv[shell_at + 1..].iter();
    while let Some(arg) = args.next() {
        if arg == "--" || arg == "-" || !(arg.starts_with('-') || arg.starts_with('+')) {
            // The first operand is a script or the command string's $0: options end here.
            return None;
        }
        if arg == "--command" || arg.starts_with("--command=") {
            return Some(format!("{prefix}{shell} --command"));
        }
        if arg.starts_with("--") {
            continue;
        }
        if matches!(arg.as_str(), "-o" | "+o" | "-O" | "+O") {
            // `set -o NAME`-style options take the next word as their value.
            args.next();
            continue;
        }
        if arg.starts_with('-') && arg.contains('c') {
            return Some(format!("{prefix}{shell} {arg}"));
        }
    }
    None
}

fn check_denied_patterns(
    patterns: &[String],
    argv: &[String],
    code: Option<&str>,
) -> Result<(), Denial> {
    if patterns.is_empty() {
        return Ok(());
    }
    let command_line = argv.join(" ");
    for (i, pattern) in patterns.iter().enumerate() {
        let rule = format!("denied_patterns[{i}] {pattern:?}");
        // Validated when the profile was loaded; a snapshot that somehow holds
        // a bad pattern fails closed rather than dropping the rule.
        let regex = Regex::new(pattern).map_err(|e| {
            Denial::new(rule.clone(), format!("invalid regex: {}", regex_error(&e)))
        })?;
        if let Some(m) = regex.find(&command_line) {
            return Err(Denial::new(
                rule,
                format!("matched {:?}", excerpt(m.as_str())),
            ));
        }
        if let Some(m) = code.and_then(|code| regex.find(code)) {
            return Err(Denial::new(
                rule,
                format!("matched {:?} in the Python code", excerpt(m.as_str())),
            ));
        }
    }
    Ok(())
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= MAX_EXCERPT_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_EXCERPT_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn profile() -> Profile {
        Profile::defaults("p")
    }

    fn denial(profile: &Profile, words: &[&str], code: Option<&str>) -> String {
        match check(profile, &argv(words), code) {
            Err(d) => d.to_string(),
            Ok(()) => panic!("{words:?} was allowed"),
        }
    }

    #[test]
    fn defaults_allow_everything() {
        let p = profile();
        for words in [
            &["sh", "-c", "rm -rf /; echo $HOME"][..],
            &["echo", "a|b"],
            &["/usr/bin/python3", "-c", "print(1)"],
        ] {
            assert_eq!(check(&p, &argv(words), Some("import os")), Ok(()));
        }
        assert_eq!(denial(&p, &[], None), "denied by policy: empty command");
    }

    #[test]
    fn allowed_commands_by_name_and_by_path() {
        let mut p = profile();
        p.allowed_commands = vec!["echo".into(), "/usr/bin/python3".into()];
        assert_eq!(check(&p, &argv(&["echo", "hi"]), None), Ok(()));
        assert_eq!(check(&p, &argv(&["/bin/echo", "hi"]), None), Ok(()));
        assert_eq!(check(&p, &argv(&["/usr/bin/python3"]), None), Ok(()));
        // A path entry pins the path: the bare name is not the same program.
        assert!(check(&p, &argv(&["python3"]), None).is_err());
        assert!(check(&p, &argv(&["/opt/bin/python3"]), None).is_err());
        assert_eq!(
            denial(&p, &["cat", "/etc/hostname"], None),
            "denied by allowed_commands: \"cat\" is not in [echo, /usr/bin/python3]"
        );
    }

    #[test]
    fn shell_invocations_are_recognised() {
        let found = |words: &[&str]| shell_invocation(&argv(words));
        assert_eq!(found(&["sh", "-c", "true"]), Some("sh -c".into()));
        assert_eq!(
            found(&["/bin/bash", "-ec", "x"]),
            Some("/bin/bash -ec".into())
        );
        assert_eq!(
            found(&["bash", "--norc", "-o", "pipefail", "-c", "x"]),
            Some("bash -c".into())
        );
        assert_eq!(
            found(&["busybox", "sh", "-c", "x"]),
            Some("busybox sh -c".into())
        );
        assert_eq!(
            found(&["fish", "--command=ls"]),
            Some("fish --command".into())
        );
        for words in [
            &["sh", "script.sh", "-c"][..],
            &["bash", "--", "-c"],
            &["shellcheck", "-c"],
            &["echo", "-c"],
            &["busybox", "ls", "-c"],
            &["sh"],
        ] {
            assert_eq!(found(words), None, "{words:?}");
        }
    }

    #[test]
    fn allow_shell_false_denies_shells_and_metacharacters() {
        let mut p = profile();
        p.allow_shell = false;
        assert_eq!(
            denial(&p, &["sh", "-c", "echo hi"], None),
            "denied by allow_shell = false: \"sh -c\" needs a shell"
        );
        assert!(denial(&p, &["bash", "-c", "ls"], None).contains("\"bash -c\" needs a shell"));
        for c in SHELL_METACHARACTERS {
            let arg = format!("a{c}b");
            let message = denial(&p, &["echo", &arg], None);
            assert!(message.contains(&format!("contains '{c}'")), "{message}");
            assert!(message.starts_with("denied by allow_shell = false: argument 1"));
        }
        assert_eq!(check(&p, &argv(&["echo", "hi"]), None), Ok(()));
        assert_eq!(check(&p, &argv(&["sh", "script.sh"]), None), Ok(()));
        // The code of a Python job is not a shell command line.
        assert_eq!(
            check(
                &p,
                &argv(&["python3", "runner.py"]),
                Some("print(1); x = a | b")
            ),
            Ok(())
        );
    }

    #[test]
    fn denied_patterns_match_the_command_line_and_the_code() {
        let mut p = profile();
        p.denied_patterns = vec!["^curl ".into(), r"rm\s+-rf".into()];
        assert_eq!(
            denial(&p, &["rm", "-rf", "/"], None),
            r#"denied by denied_patterns[1] "rm\\s+-rf": matched "rm -rf""#
        );
        assert_eq!(
            denial(&p, &["sh", "-c", "cd / && rm   -rf x"], None),
            r#"denied by denied_patterns[1] "rm\\s+-rf": matched "rm   -rf""#
        );
        assert!(denial(&p, &["curl", "x"], None).starts_with("denied by denied_patterns[0]"));
        assert_eq!(
            denial(&p, &["python3"], Some("import os\nos.system('rm -rf /')\n")),
            r#"denied by denied_patterns[1] "rm\\s+-rf": matched "rm -rf" in the Python code"#
        );
        assert_eq!(check(&p, &argv(&["rm", "-r", "x"]), Some("rm -r")), Ok(()));
        assert_eq!(check(&p, &argv(&["echo", "curl x"]), None), Ok(()));
    }

    #[test]
    fn rules_apply_in_order_and_name_the_first_that_matched() {
        let mut p = profile();
        p.allowed_commands = vec!["sh".into()];
        p.allow_shell = false;
        p.denied_patterns = vec!["sh".into()];
        assert!(denial(&p, &["cat"], None).starts_with("denied by allowed_commands"));
        assert!(denial(&p, &["sh", "-c", "x"], None).starts_with("denied by allow_shell"));
        assert!(denial(&p, &["sh", "x"], None).starts_with("denied by denied_patterns[0]"));
    }

    #[test]
    fn a_bad_stored_pattern_fails_closed() {
        let mut p = profile();
        p.denied_patterns = vec!["(".into()];
        let message = denial(&p, &["echo"], None);
        assert!(message.starts_with("denied by denied_patterns[0] \"(\": invalid regex: "));
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn long_matches_are_shortened() {
        let mut p = profile();
        p.denied_patterns = vec!["x+".into()];
        let message = denial(&p, &["echo", &"x".repeat(500)], None);
        assert!(message.len() < 200, "{message}");
        assert!(message.contains('…'), "{message}");
    }
}
