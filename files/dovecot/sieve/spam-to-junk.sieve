# Mail Rspamd marked as spam (its add_header action, mailstack:spamActions)
# goes to Junk, before the user's own script runs. Rspamd drops any X-Spam
# header a sender wrote itself.
require ["fileinto", "mailbox"];
if header :is "X-Spam" "Yes" {
  fileinto :create "Junk";
  stop;
}
