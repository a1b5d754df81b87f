//! `--python` and friends, shared by `run` and `exec`.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::manager::Launch;
use crate::python::PythonJob;

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
