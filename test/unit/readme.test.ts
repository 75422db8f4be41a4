import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VARIABLES } from '../../src/config/config';

const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const rows = new Map(
  readme
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line.split('|').map((cell) => cell.trim());
      return [cells[1]?.replace(/`/g, '') ?? '', cells[2] ?? ''] as const;
    }),
);

describe('README configuration table', () => {
  for (const spec of Object.values(VARIABLES)) {
    it(`documents ${spec.name} with its default`, () => {
      const documented = rows.get(spec.name);
      assert.ok(documented !== undefined, `${spec.name} is missing from the README table`);
      if (spec.defaultText !== undefined && spec.defaultText !== '') assert.equal(documented, `\`${spec.defaultText}\``);
    });
  }
});
