// DKIM: the keys of every selector and the TXT records that publish them.
export {
  type DkimKey,
  DkimKeys,
  type DkimKeysArgs,
  type DkimRecord,
  type DkimTxtRecord,
  dkimChildName,
  dkimKeysProblems,
  dkimRecords,
  tlsKeyArgs,
  validateDkimKeys,
} from "./component";
export { type DkimKeyType, dkimKeyType, dkimRecordName, dkimRecordValue, splitTxt } from "./render";
export type { DkimDomainConfig, DkimSelectorConfig } from "./settings";
export * as settings from "./settings";
