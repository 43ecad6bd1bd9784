//! What a run reports: per file the passed count and every failing eval with the check
//! that failed, what was expected and what came back; and the totals over files.

use std::fmt;

/// One failing eval.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalFailure {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The eval command line as written.
    pub header: String,
    /// Which query failed: the instant or range query itself, an @-variant, or the
    /// range-mode check of either.
    pub check: String,
    pub message: String,
    /// The expected result as the script lists it.
    pub expected: String,
    /// The value the engine returned, if it returned one.
    pub got: Option<String>,
}

/// The outcome of one script.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub name: String,
    pub passed: usize,
    pub failures: Vec<EvalFailure>,
    /// A script error (line, message) that stopped the file before anything ran.
    pub file_error: Option<(usize, String)>,
    /// Evals not run because of `file_error`; they count as failed.
    pub not_run: usize,
}

impl FileReport {
    pub fn new(name: &str) -> FileReport {
        FileReport {
            name: name.to_string(),
            passed: 0,
            failures: Vec::new(),
            file_error: None,
            not_run: 0,
        }
    }

    pub fn failed(&self) -> usize {
        self.failures.len() + self.not_run
    }

    /// `NAME: N passed, N failed`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} passed, {} failed",
            self.name,
            self.passed,
            self.failed()
        )
    }
}

impl fmt::Display for EvalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "    check:    {}", self.check)?;
        writeln!(f, "    error:    {}", self.message)?;
        block(f, "expected:", &self.expected)?;
        if let Some(got) = &self.got {
            block(f, "got:     ", got)?;
        }
        Ok(())
    }
}

/// `title first line` and the other lines indented below it.
fn block(f: &mut fmt::Formatter<'_>, title: &str, text: &str) -> fmt::Result {
    let mut lines = text.lines();
    writeln!(f, "    {title} {}", lines.next().unwrap_or(""))?;
    for l in lines {
        writeln!(f, "                {l}")?;
    }
    Ok(())
}

impl fmt::Display for FileReport {
    /// Every failure as `FILE:LINE: eval …` with its details, then the file's summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, msg)) = &self.file_error {
            writeln!(
                f,
                "{}:{line}: script error, nothing in this file ran ({} evals counted as failed): {msg}",
                self.name, self.not_run
            )?;
        }
        for fail in &self.failures {
            writeln!(f, "{}:{}: {}", self.name, fail.line, fail.header)?;
            write!(f, "{fail}")?;
        }
        writeln!(f, "{}", self.summary())
    }
}

/// Totals over several files.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
}

impl Totals {
    pub fn of<'a>(reports: impl IntoIterator<Item = &'a FileReport>) -> Totals {
        reports.into_iter().fold(Totals::default(), |t, r| Totals {
            passed: t.passed + r.passed,
            failed: t.failed + r.failed(),
        })
    }
}

impl fmt::Display for Totals {
    /// `N passed, N failed`: the last line of a run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}
