// Backups: the rendered settings, schedule and secrets file, and validation.
// test/sandbox/backup-contract.ts takes, deletes and restores real mail in the sandbox.
import { describe, expect, it } from "vitest";
import {
  BACKUP_PATHS,
  renderBackupConf,
  renderBackupCron,
  renderBackupEnv,
  resticRepository,
} from "../../../src/concerns/backup/render";
import { backupProblems, DEFAULT_BACKUP } from "../../../src/concerns/backup/settings";

const ENV = {
  endpoint: "https://s3.eu-central-1.amazonaws.com",
  bucket: "mail-tlabs-team",
  region: "eu-central-1",
  accessKeyId: "AKIAEXAMPLE",
  secretAccessKey: "s3cr'et/key",
  password: "correct horse battery staple",
};

describe("backup settings", () => {
  it("backup.conf", () => expect(renderBackupConf(DEFAULT_BACKUP)).toMatchSnapshot());

  it("backs up the mailboxes, DKIM keys and config, and dumps the database unless told not to", () => {
    const conf = renderBackupConf(DEFAULT_BACKUP);
    for (const p of ["/var/vmail", "/var/lib/rspamd/dkim", "/etc/postfix", "/etc/dovecot"]) {
      expect(BACKUP_PATHS).toContain(p);
    }
    expect(conf).toContain('\nDATABASE="mailserver"\n');
    expect(conf).toContain('\nBACKUP_EXCLUDES="/etc/mailstack/backup.env"\n');
    expect(conf).toContain("\nMAX_AGE=93600\n");
    expect(renderBackupConf({ ...DEFAULT_BACKUP, database: false })).toContain('\nDATABASE=""\n');
  });

  it("runs daily at the configured time, or not at all", () => {
    expect(renderBackupCron(DEFAULT_BACKUP)).toContain(
      "\n15 3 * * * root /usr/local/sbin/mailstack-backup 2>&1 | logger -t mailstack-backup\n",
    );
    const off = renderBackupCron({ ...DEFAULT_BACKUP, schedule: "off" });
    expect(off).not.toMatch(/^\d/m);
    expect(off).toContain("Off (mailstack:backup schedule off)");
  });

  it("refuses a bad schedule, retention that keeps nothing, and other bad values", () => {
    expect(backupProblems(DEFAULT_BACKUP)).toEqual([]);
    expect(backupProblems({ ...DEFAULT_BACKUP, schedule: "3am" })[0]).toMatch(
      /schedule "3am" must be a time of day/,
    );
    expect(backupProblems({ ...DEFAULT_BACKUP, schedule: "24:00" })).toHaveLength(1);
    expect(
      backupProblems({ ...DEFAULT_BACKUP, keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 }),
    ).toEqual([
      "keepLast, keepDaily, keepWeekly and keepMonthly are all 0, which would delete every snapshot",
    ]);
    expect(backupProblems({ ...DEFAULT_BACKUP, keepDaily: -1 })[0]).toMatch(
      /keepDaily -1 must be a whole number/,
    );
    expect(backupProblems({ ...DEFAULT_BACKUP, maxAgeHours: 0 })[0]).toMatch(/maxAgeHours 0/);
    expect(() => renderBackupConf({ ...DEFAULT_BACKUP, schedule: "x" })).toThrow(/\(mailstack:backup\)$/);
  });
});

describe("backup secrets", () => {
  it("points restic at a folder of the bucket, on the endpoint's origin", () => {
    expect(resticRepository("http://10.213.0.1:9000", "mail-example-test")).toBe(
      "s3:http://10.213.0.1:9000/mail-example-test/mailstack",
    );
    expect(resticRepository("https://s3.example.com/", "b")).toBe("s3:https://s3.example.com/b/mailstack");
    expect(() => resticRepository("ftp://x", "b")).toThrow(/not an http\(s\) URL/);
  });

  it("quotes every value for the shell that sources the file", () => {
    const env = renderBackupEnv(ENV);
    expect(env).toContain(
      "\nRESTIC_REPOSITORY='s3:https://s3.eu-central-1.amazonaws.com/mail-tlabs-team/mailstack'\n",
    );
    expect(env).toContain("\nAWS_SECRET_ACCESS_KEY='s3cr'\\''et/key'\n");
    expect(env).toContain("\nRESTIC_PASSWORD='correct horse battery staple'\n");
    expect(() => renderBackupEnv({ ...ENV, password: "a\nb" })).toThrow(
      /RESTIC_PASSWORD is empty or spans lines/,
    );
  });
});
