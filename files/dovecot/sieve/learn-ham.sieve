# A message moved out of Junk: Rspamd learns it as ham, unless it went to the
# Trash, which says nothing about it.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];
if environment :is "imap.mailbox" "Trash" {
  stop;
}
pipe :copy "rspamd-learn" ["ham"];
