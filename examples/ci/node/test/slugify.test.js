'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { slugify } = require('../lib/slugify');

test('lower-cases and joins words with dashes', () => {
  assert.strictEqual(slugify('Hello World'), 'hello-world');
});

test('drops accents and punctuation', () => {
  assert.strictEqual(slugify('  Crème Brûlée, v2!  '), 'creme-brulee-v2');
});
