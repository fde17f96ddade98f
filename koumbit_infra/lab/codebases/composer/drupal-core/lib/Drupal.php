<?php
// koumbit-infra lab: a STAND-IN for drupal/core, not Drupal. It holds only the version
// it stands for, so that composer, koumbit-site-code and the drush stand-in have a real
// package to install, lock, update and read. See ../../README.md.
final class Drupal {
  const VERSION = '@VERSION@';
}
