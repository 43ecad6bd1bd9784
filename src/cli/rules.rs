//! `lookout check rules FILE...` and `lookout test rules FILE...`, with promtool's output:
//! `Checking FILE` / `SUCCESS: N rules found`, `Unit Testing:  FILE` / `SUCCESS`, failures
//! on stderr, and exit status 1 when any file failed.

use std::path::PathBuf;

/// Checks `files`, their expressions LogQL when `logql` (log rule files), else PromQL.
pub fn check(files: &[PathBuf], logql: bool) -> anyhow::Result<()> {
    use lookout_query::rules::expr::Lang;
    let lang = if logql { Lang::Logql } else { Lang::Promql };
    let mut failed = 0;
    for f in files {
        println!("Checking {}", f.display());
        match lookout_query::rules::file::load_as(f, lang) {
            Ok(l) => {
                let n: usize = l.file.groups.iter().map(|g| g.rules.len()).sum();
                println!("  SUCCESS: {n} rules found\n");
            }
            Err(errors) => {
                failed += 1;
                eprintln!("  FAILED:");
                for e in errors {
                    eprintln!("{e}");
                }
                println!();
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} rule files failed the check", files.len());
    }
    Ok(())
}

pub fn test(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut failed = 0;
    for f in files {
        let o = lookout_query::rules::unittest::run_file(f);
        print!("{}", o.stdout);
        eprint!("{}", o.stderr);
        if !o.passed {
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} rule test files failed", files.len());
    }
    Ok(())
}
