'use strict';
// Uses the dev dependency `ms`, which `npm ci` fetches from the registry the CI policy lets the job reach.
const test = require('node:test');
const assert = require('node:assert');
const ms = require('ms');
const { slugify } = require('../lib/slugify');

test('slugifies a duration written out by ms', () => {
  assert.strictEqual(slugify(ms(90000, { long: true })), '2-minutes');
});
