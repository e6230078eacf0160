package template

import (
	"fmt"
	"os"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/intrinsics"
)

func TestExplore(t *testing.T) {
	data, _ := os.ReadFile("../../template.yaml")
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	fmt.Println(string(out)[:3000], err)
	tpl, err := goformation.ParseYAML(data)
	fmt.Printf("%v %+v\n", err, tpl)
	if tpl != nil {
		for k, r := range tpl.Resources {
			fmt.Printf("%s %T\n", k, r)
		}
	}
}
