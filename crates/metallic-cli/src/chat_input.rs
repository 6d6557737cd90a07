//! What the user types in `metallic chat`: lines read with a line editor
//! (history on the arrow keys, kept across sessions) when stdin is a
//! terminal, plainly otherwise; `"""` … `"""` spans several lines; lines
//! starting with `/` are commands.

use std::io::IsTerminal;
use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{
    Cmd, ConditionalEventHandler, Editor, Event, EventContext, EventHandler, KeyEvent, Movement,
    RepeatCount,
};

use metallic::{Error, Result};

/// What `/help` prints and `chat --help` shows.
pub const HELP: &str = "\
/help         list these commands
/reset        forget the conversation (also /clear)
/exit         leave (also /bye, Ctrl-D, or Ctrl-C at an empty prompt)
\"\"\"           begin a message of several lines; \"\"\" again ends it
Ctrl-C while an answer is written stops it.";

const MULTI_LINE: &str = "\"\"\"";

/// One thing the user asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    Message(String),
    Reset,
    Help,
    Leave,
    /// A `/word` that is no command: not sent to the model.
    Unknown(String),
}

pub struct ChatInput {
    editor: Editor<(), DefaultHistory>,
    /// Where the history is kept, when reading from a terminal.
    history: Option<PathBuf>,
}

impl ChatInput {
    /// `history`: the file of earlier sessions' lines, used only when stdin
    /// is a terminal.
    pub fn new(history: Option<PathBuf>) -> Result<ChatInput> {
        let mut editor = Editor::new().map_err(editor_error)?;
        editor.bind_sequence(
            KeyEvent::ctrl('C'),
            EventHandler::Conditional(Box::new(ClearOrLeave)),
        );
        let history = history.filter(|_| std::io::stdin().is_terminal());
        if let Some(path) = &history {
            // A first session has no history yet.
            let _ = editor.load_history(path);
        }
        Ok(ChatInput { editor, history })
    }

    /// The next thing asked for; end of input leaves.
    pub fn next(&mut self) -> Result<Input> {
        let Some(line) = self.line("> ")? else {
            return Ok(Input::Leave);
        };
        let trimmed = line.trim();
        if let Some(first) = trimmed.strip_prefix(MULTI_LINE) {
            return self.multi_line(first).map(Input::Message);
        }
        Ok(parse(trimmed))
    }

    /// Lines up to the closing `"""`, `first` being the rest of the opening
    /// line.
    fn multi_line(&mut self, first: &str) -> Result<String> {
        let mut text = String::new();
        let mut line = first.to_owned();
        loop {
            if let Some(last) = line.trim_end().strip_suffix(MULTI_LINE) {
                text.push_str(last);
                // A closing `"""` on its own line adds no line break.
                if last.is_empty() && text.ends_with('\n') {
                    text.pop();
                }
                return Ok(text);
            }
            text.push_str(&line);
            text.push('\n');
            // End of input ends the message too.
            match self.line("... ")? {
                Some(next) => line = next,
                None => return Ok(text),
            }
        }
    }

    /// A line, or `None` at end of input (Ctrl-D, Ctrl-C at an empty
    /// prompt).
    fn line(&mut self, prompt: &str) -> Result<Option<String>> {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if self.history.is_some() && !line.trim().is_empty() {
                    // History is a convenience: a failure to add is no error.
                    let _ = self.editor.add_history_entry(line.as_str());
                }
                Ok(Some(line))
            }
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(None),
            Err(e) => Err(editor_error(e)),
        }
    }
}

impl Drop for ChatInput {
    fn drop(&mut self) {
        if let Some(path) = &self.history {
            // Best effort, as loading it was.
            let _ = self.editor.save_history(path);
        }
    }
}

fn parse(line: &str) -> Input {
    match line {
        "/exit" | "/bye" | "/quit" => Input::Leave,
        "/reset" | "/clear" => Input::Reset,
        "/help" | "/?" => Input::Help,
        command if command.starts_with('/') => Input::Unknown(command.to_owned()),
        text => Input::Message(text.to_owned()),
    }
}

fn editor_error(e: ReadlineError) -> Error {
    Error::io("<stdin>", std::io::Error::other(e.to_string()))
}

/// Ctrl-C at an empty prompt leaves (as end of input does); with text typed
/// it clears the line, as shells do.
struct ClearOrLeave;

impl ConditionalEventHandler for ClearOrLeave {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            Some(Cmd::Interrupt)
        } else {
            Some(Cmd::Kill(Movement::WholeLine))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_and_unknown_ones_kept_apart() {
        assert_eq!(parse("/bye"), Input::Leave);
        assert_eq!(parse("/exit"), Input::Leave);
        assert_eq!(parse("/clear"), Input::Reset);
        assert_eq!(parse("/help"), Input::Help);
        assert_eq!(
            parse("/sytem be brief"),
            Input::Unknown("/sytem be brief".into())
        );
        assert_eq!(parse("hello /exit"), Input::Message("hello /exit".into()));
    }
}
