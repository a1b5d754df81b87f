//! What to launch, shared by `run` and `exec`: a command, or `--python`
//! and friends, and a timeout.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::manager::Launch;
use crate::python::PythonJob;

#[derive(Debug, Clone, clap::Args)]
pub struct LaunchArgs {
    /// Wall-clock timeout in seconds (overrides the profile's timeout_seconds)
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub python: PythonArgs,
    /// The command and its arguments
    #[arg(
        required_unless_present = "python",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

impl LaunchArgs {
    pub fn timeout(&self) -> anyhow::Result<Option<Duration>> {
        let max = crate::profile::MAX_SECONDS;
        match self.timeout {
            Some(s) if s.is_finite() && s > 0.0 && s <= max as f64 => {
                Ok(Some(Duration::from_secs_f64(s)))
            }
            Some(s) => anyhow::bail!(
                "--timeout must be a positive number of seconds, at most {max}, got {s}"
            ),
            None => Ok(None),
        }
    }

    pub fn launch(self) -> anyhow::Result<Launch> {
        self.python.launch(self.command)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct PythonArgs {
    /// Run Python instead of a command: the code is the body of a function, so
    /// `return` gives the result. A FILE, `-` (or nothing) for stdin, or the code itself
    #[arg(long, value_name = "FILE|-|CODE", num_args = 0..=1, default_missing_value = "-")]
    pub python: Option<String>,
    /// Call this function (NAME) or method (Class.method, on an instance made with no arguments) of the code
    #[arg(long, requires = "python", value_name = "NAME")]
    pub call: Option<String>,
    /// Positional arguments for --call, as a JSON list
    #[arg(long, requires = "call", value_name = "JSON")]
    pub args: Option<String>,
    /// Keyword arguments for --call, as a JSON object
    #[arg(long, requires = "call", value_name = "JSON")]
    pub kwargs: Option<String>,
}

impl PythonArgs {
    /// The launch: the Python job when `--python` is there, else the command.
    pub fn launch(self, command: Vec<String>) -> anyhow::Result<Launch> {
        let Some(source) = self.python else {
            if command.is_empty() {
                anyhow::bail!("give a command after --, or --python");
            }
            return Ok(Launch::Command(command));
        };
        if !command.is_empty() {
            anyhow::bail!("give either a command or --python, not both");
        }
        let code = if source == "-" {
            let mut code = String::new();
            std::io::stdin()
                .read_to_string(&mut code)
                .context("reading the Python code from stdin")?;
            code
        } else if Path::new(&source).is_file() {
            std::fs::read_to_string(&source).with_context(|| format!("reading {source}"))?
        } else {
            source
        };
        let args = match self.args {
            Some(text) => match serde_json::from_str(&text) {
                Ok(serde_json::Value::Array(list)) => list,
                Ok(_) => anyhow::bail!("--args must be a JSON list, e.g. '[1, \"two\"]'"),
                Err(e) => anyhow::bail!("--args is not valid JSON: {e}"),
            },
            None => Vec::new(),
        };
        let kwargs = match self.kwargs {
            Some(text) => match serde_json::from_str(&text) {
                Ok(serde_json::Value::Object(map)) => map,
                Ok(_) => anyhow::bail!("--kwargs must be a JSON object, e.g. '{{\"n\": 3}}'"),
                Err(e) => anyhow::bail!("--kwargs is not valid JSON: {e}"),
            },
            None => serde_json::Map::new(),
        };
        if let Some(call) = &self.call {
            crate::python::check_call(call)?;
        }
        Ok(Launch::Python(PythonJob {
            code,
            call: self.call,
            args,
            kwargs,
        }))
    }
}
