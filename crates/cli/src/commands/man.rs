//! `theseus man [COMMAND]`: the manual page, in roff (clap_mangen).

use std::io::Write;

use clap::Args;

use crate::exit::Failure;

const EXAMPLES: &str = "Examples:
  theseus man > ~/.local/share/man/man1/theseus.1 && man theseus
  theseus man append | man -l -";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ManArgs {
    /// A command whose page to print instead of the main one.
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

pub fn run(args: ManArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let mut command = crate::command();
    command.build();
    let page = match &args.command {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name).cloned() else {
                return Err(Failure::Usage(format!(
                    "no command {name:?} (see theseus --help)"
                )));
            };
            sub.name(format!("theseus-{name}"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    out.write_all(&roff)?;
    Ok(())
}
