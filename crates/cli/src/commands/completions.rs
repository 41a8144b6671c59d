//! `theseus completions SHELL`: a completion script (clap_complete).

use std::io::Write;

use clap::Args;
use clap_complete::Shell;

use crate::exit::Failure;

const EXAMPLES: &str = "Examples:
  theseus completions bash > ~/.local/share/bash-completion/completions/theseus
  theseus completions zsh > ~/.zfunc/_theseus      # with fpath+=~/.zfunc in ~/.zshrc
  theseus completions fish > ~/.config/fish/completions/theseus.fish";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::command(), "theseus", &mut script);
    out.write_all(&script)?;
    Ok(())
}
