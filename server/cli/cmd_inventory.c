#include "cli.h"
int cmd_package_server(int a, char **b){(void)a;(void)b;return 1;}
int cmd_machine(int a, char **b){(void)a;(void)b;return 1;}
int cmd_scenario(int a, char **b){(void)a;(void)b;return 1;}
int cmd_run(int a, char **b){(void)a;(void)b;return 1;}
