//! Building answers: the few shapes every processor of the broker and the name server uses.

use super::header::CommandHeader;
use crate::remoting::codes::response_code as code;
use crate::remoting::RemotingCommand;

/// An error answer with a readable remark.
pub fn error(req: &RemotingCommand, c: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response_to(req, c).with_remark(remark)
}

/// SUCCESS with nothing else.
pub fn ok(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(req, code::SUCCESS)
}

/// Adds a typed header's fields to an answer.
pub fn with_header(mut resp: RemotingCommand, h: &impl CommandHeader) -> RemotingCommand {
    if resp.ext_fields.is_empty() {
        // The usual case: take the header's map as it is rather than re-hash every field.
        resp.ext_fields = h.to_ext();
    } else {
        resp.ext_fields.extend(h.to_ext());
    }
    resp
}

/// SUCCESS with a JSON body (standard JSON; fastjson reads it).
pub fn json_body(req: &RemotingCommand, value: &impl serde::Serialize) -> RemotingCommand {
    match serde_json::to_vec(value) {
        Ok(b) => ok(req).with_body(b),
        Err(e) => error(
            req,
            code::SYSTEM_ERROR,
            format!("cannot encode response: {e}"),
        ),
    }
}

/// The header of `req`, or SYSTEM_ERROR naming the missing or bad field (what the Java broker
/// answers when header decoding throws).
pub fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, Box<RemotingCommand>> {
    H::from_ext(&req.ext_fields)
        .map_err(|e| Box::new(error(req, code::SYSTEM_ERROR, e.to_string())))
}
